import { DockerRuntime } from "../../agent/src/adapters/docker/docker-runtime.js";
import { runtimeConformance } from "../conformance/runtime-conformance.js";

// Needs a running Docker engine and the test image from scripts/build-image: fails loudly otherwise.
const runtime = new DockerRuntime();

/** A process that nothing holds back writes 64 MiB in well under this here. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 1500));

runtimeConformance("DockerRuntime", () => ({ runtime, image: "podspawn/busybox:test", settle }));
