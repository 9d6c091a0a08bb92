import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Where a local node container finds what the cloud fetches from S3 and SSM (see the bootstrap's sources). */
export const LOCAL_NODE_PATHS = {
  agentDir: "/opt/podspawn/agent/",
  agentPointer: "/opt/podspawn/agent/current.sha256",
  bootstrap: "/etc/podspawn-fleet/bootstrap.sh",
  usersDir: "/etc/podspawn-fleet/users/",
  usersPointer: "/etc/podspawn-fleet/users/current.sha256",
  projectsDir: "/etc/podspawn-fleet/projects/",
  projectsPointer: "/etc/podspawn-fleet/projects/current.sha256",
  hostKey: "/etc/podspawn-fleet/host_key",
  status: "/var/lib/podspawn-fleet/status.json",
} as const;

/**
 * The local node image: distro packages (the ones the bootstrap would apt-get) plus the agent
 * artifact and its pointer. Users, projects, host key and the bootstrap itself are uploaded per container,
 * so the image only changes when the agent or the base does. The container runs its own dockerd
 * (privileged), the way a real node owns its engine.
 */
export function renderNodeDockerfile(baseImage: string, agentSha256: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._/:@-]*$/.test(baseImage)) throw new Error(`invalid base image ${JSON.stringify(baseImage)}`);
  if (!/^[0-9a-f]{64}$/.test(agentSha256)) throw new Error("agent sha256 must be 64 hex digits");
  return [
    `FROM ${baseImage}`,
    "RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \\",
    "      nodejs docker.io openssh-server iptables tar ca-certificates debootstrap util-linux \\",
    "    && rm -rf /var/lib/apt/lists/*",
    `COPY agent.tar.gz ${LOCAL_NODE_PATHS.agentDir}${agentSha256}.tar.gz`,
    `RUN echo ${agentSha256} > ${LOCAL_NODE_PATHS.agentPointer}`,
    "EXPOSE 22",
    `CMD ["/bin/bash", "-c", "${LOCAL_NODE_PATHS.bootstrap} && exec sleep infinity"]`,
    "",
  ].join("\n");
}

/** Writes the docker build context for the local node image; returns its directory. */
export function writeNodeImageContext(outDir: string, artifactPath: string, baseImage: string, agentSha256: string): string {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "Dockerfile"), renderNodeDockerfile(baseImage, agentSha256));
  copyFileSync(artifactPath, join(outDir, "agent.tar.gz"));
  return outDir;
}
