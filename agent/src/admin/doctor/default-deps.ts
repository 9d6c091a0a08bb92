import { probeRunc } from "../../adapters/process/runc-probe.js";
import { lstat, readdir, statfs } from "node:fs/promises";
import { hostAccounts } from "../../adapters/accounts/host-accounts.js";
import { sendControl } from "../../adapters/daemon/control-client.js";
import { dockerEngineProbe } from "../../adapters/docker/engine-probe.js";
import { readCappedTextFile } from "../../adapters/fs/capped-file.js";
import { rootOwnedPathProblems } from "../../adapters/fs/atomic-file.js";
import { loadNodeConfig } from "../../adapters/fs/node-config-file.js";
import { runProcess } from "../../adapters/process/run-process.js";
import type { Layout } from "../../core/host/layout.js";
import type { DoctorDeps, DoctorFs, FileFacts } from "./deps.js";

/** The files the doctor reads are config files: a few KiB. */
const MAX_READ_BYTES = 1024 * 1024;

function kindOf(st: Awaited<ReturnType<typeof lstat>>): FileFacts["kind"] {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "dir";
  if (st.isSocket()) return "socket";
  return "other";
}

export const hostFs: DoctorFs = {
  async stat(path) {
    try {
      const st = await lstat(path);
      return { kind: kindOf(st), uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
  },
  readText: (path) => readCappedTextFile(path, MAX_READ_BYTES),
  list: (dir) => readdir(dir),
  async freeBytes(path) {
    const s = await statfs(path);
    return s.bavail * s.bsize;
  },
  rootOwnedProblems: (path) => rootOwnedPathProblems(path),
};

export function defaultDoctorDeps(layout: Layout, dockerSocket: string, sshdConfigs: readonly string[]): DoctorDeps {
  return {
    layout,
    dockerSocket,
    sshdConfigs,
    control: (request) => sendControl(layout, request),
    engine: dockerEngineProbe(dockerSocket),
    run: runProcess,
    fs: hostFs,
    accounts: hostAccounts(),
    loadConfig: () => loadNodeConfig(layout.configFile),
    runc: () => probeRunc(),
  };
}
