import { execFileSync } from "node:child_process";
import { DockerImageBuilder } from "../../agent/src/adapters/docker/docker-image-builder.js";
import { imageBuilderConformance } from "../conformance/image-builder-conformance.js";

// Needs a running Docker engine and podspawn/busybox:test (scripts/build-image): fails loudly otherwise.
const builder = new DockerImageBuilder();

imageBuilderConformance("DockerImageBuilder", () => ({
  builder,
  base: "podspawn/busybox:test",
  removeImage: async (tag) => {
    execFileSync("docker", ["rmi", "--force", tag], { stdio: "ignore" });
  },
}));
