import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Where a local node container finds what the cloud fetches from S3 and SSM. */
export const LOCAL_NODE_PATHS = {
  artifact: "/opt/podspawn/agent.tar.gz",
  bootstrap: "/etc/podspawn-fleet/bootstrap.sh",
  users: "/etc/podspawn-fleet/users.json",
  hostKey: "/etc/podspawn-fleet/host_key",
} as const;

/**
 * The local node image: distro packages (the ones the bootstrap would apt-get) plus the agent
 * artifact. Users, host key and the bootstrap itself are uploaded per container, so the image only
 * changes when the agent or the base does. The container runs its own dockerd (privileged), the
 * way a real node owns its engine.
 */
export function renderNodeDockerfile(baseImage: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._/:@-]*$/.test(baseImage)) throw new Error(`invalid base image ${JSON.stringify(baseImage)}`);
  return [
    `FROM ${baseImage}`,
    "RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \\",
    "      nodejs docker.io openssh-server iptables tar ca-certificates \\",
    "    && rm -rf /var/lib/apt/lists/*",
    `COPY agent.tar.gz ${LOCAL_NODE_PATHS.artifact}`,
    "EXPOSE 22",
    `CMD ["/bin/bash", "-c", "${LOCAL_NODE_PATHS.bootstrap} && exec sleep infinity"]`,
    "",
  ].join("\n");
}

/** Writes the docker build context for the local node image; returns its directory. */
export function writeNodeImageContext(outDir: string, artifactPath: string, baseImage: string): string {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "Dockerfile"), renderNodeDockerfile(baseImage));
  copyFileSync(artifactPath, join(outDir, "agent.tar.gz"));
  return outDir;
}
