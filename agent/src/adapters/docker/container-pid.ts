import { readFile } from "node:fs/promises";

/** The host pid of a running container's init and its OCI runtime, or null when it is not running. */
export type InitProcessOf = (containerId: string) => Promise<{ pid: number; ociRuntime: string } | null>;

/**
 * Whether the pid still belongs to the container (its cgroup names the container's full id).
 * Were the container gone and the pid reused by a host process, its root would be the host's own.
 */
export async function pidIsContainers(procRoot: string, pid: number, containerId: string): Promise<boolean> {
  if (!/^[0-9a-f]{12,64}$/.test(containerId)) return false;
  const cgroups = await readFile(`${procRoot}/${pid}/cgroup`, "utf8").catch(() => "");
  return cgroups.includes(containerId);
}
