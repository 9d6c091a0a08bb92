import type { NodeConfig } from "../../core/config/node-config.js";
import type { Layout } from "../../core/host/layout.js";
import type { EngineProbe } from "../../adapters/docker/engine-probe.js";
import type { RunProcess } from "../../adapters/process/run-process.js";
import type { HostAccounts } from "../../adapters/accounts/host-accounts.js";
import type { Control } from "../deps.js";
import type { RuncFacts } from "../../adapters/process/runc-probe.js";

/** What one path is, as far as the checks care. */
export interface FileFacts {
  readonly kind: "file" | "dir" | "socket" | "other";
  readonly uid: number;
  readonly gid: number;
  /** Permission bits only (`0o700`). */
  readonly mode: number;
}

/** The host as the doctor reads it: nothing here writes. */
export interface DoctorFs {
  /** Null when the path does not exist. */
  stat(path: string): Promise<FileFacts | null>;
  /** Null when the file does not exist. */
  readText(path: string): Promise<string | null>;
  list(dir: string): Promise<string[]>;
  /** Bytes free for an unprivileged writer on the filesystem of `path`. */
  freeBytes(path: string): Promise<number>;
  /** Every problem sshd would have with `path` as a command: owner and mode of it and each parent. */
  rootOwnedProblems(path: string): Promise<string[]>;
}

export interface DoctorDeps {
  readonly layout: Layout;
  readonly dockerSocket: string;
  /** The sshd configs to check (see sshd-configs.ts). */
  readonly sshdConfigs: readonly string[];
  readonly control: Control;
  readonly engine: EngineProbe;
  readonly run: RunProcess;
  readonly fs: DoctorFs;
  readonly accounts: Pick<HostAccounts, "getUser" | "getGroup">;
  readonly loadConfig: () => Promise<NodeConfig>;
  /** The host's runc version and package changelog (adapters/process/runc-probe.ts). */
  readonly runc: () => Promise<RuncFacts>;
}

export const mode = (m: number): string => m.toString(8).padStart(4, "0");
