import { DockerRuntime } from "../../agent/src/adapters/docker/docker-runtime.js";
import { runtimeConformance } from "../conformance/runtime-conformance.js";

// Needs a running Docker engine and the test image from scripts/build-image: fails loudly otherwise.
const runtime = new DockerRuntime();

runtimeConformance("DockerRuntime", () => ({ runtime, image: "podspawn/busybox:test" }));
