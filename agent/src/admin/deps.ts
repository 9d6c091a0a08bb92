import { access, open } from "node:fs/promises";
import type { ControlRequest, ResponseFor } from "../core/protocol/control-protocol.js";
import type { Layout } from "../core/host/layout.js";
import type { PublicKey } from "../core/users/keys.js";
import { sendControl } from "../adapters/daemon/control-client.js";
import type { Outcome } from "../adapters/fs/atomic-file.js";
import { readRegistry, removeUserFiles, writeAuthorizedFile, writeUserKeys } from "../adapters/fs/user-registry.js";
import { hostAccounts, type HostAccounts } from "../adapters/accounts/host-accounts.js";
import { endProcessesOf } from "../adapters/process/user-processes.js";

/**
 * What the admin use cases touch, injected so each can be tested with fakes: host accounts, the
 * key registry on disk, the daemon's control socket, and two output lines.
 */

/** One control request; null when no daemon is running. */
export type Control = <R extends ControlRequest>(request: R) => Promise<ResponseFor<R> | null>;

/** The key registry and the rendered authorized-keys files of one instance. */
export interface UserRegistry {
  read(): Promise<Map<string, PublicKey[]>>;
  writeKeys(user: string, keys: readonly PublicKey[], keysGid: number): Promise<Outcome>;
  writeAuthorized(user: string, keys: readonly PublicKey[], userGid: number): Promise<Outcome>;
  /** The rendered file first (no new logins), then the registry entry; true if either existed. */
  remove(user: string): Promise<boolean>;
  /** Which of the directories `podspawn install` creates are missing. */
  missingDirs(): Promise<string[]>;
}

export interface AdminDeps {
  readonly layout: Layout;
  readonly accounts: HostAccounts;
  readonly registry: UserRegistry;
  readonly control: Control;
  /** Progress for the admin (stdout). */
  readonly say: (line: string) => void;
  /** Problems that do not undo the change (stderr). */
  readonly warn: (line: string) => void;
  readonly sleep: (ms: number) => Promise<void>;
  /** Kills every host process of a (pod user's) uid, returning how many: its open ssh connections. */
  readonly endProcesses: (uid: number) => Promise<number>;
}

export function fsUserRegistry(layout: Layout): UserRegistry {
  return {
    read: () => readRegistry(layout),
    writeKeys: (user, keys, gid) => writeUserKeys(layout, user, keys, gid),
    writeAuthorized: (user, keys, gid) => writeAuthorizedFile(layout, user, keys, gid),
    remove: (user) => removeUserFiles(layout, user),
    async missingDirs() {
      const missing: string[] = [];
      for (const dir of [layout.usersDir, layout.authorizedKeysDir]) if (!(await access(dir).then(() => true, () => false))) missing.push(dir);
      return missing;
    },
  };
}

export function defaultAdminDeps(layout: Layout, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): AdminDeps {
  return {
    layout,
    accounts: hostAccounts(),
    registry: fsUserRegistry(layout),
    control: (request) => sendControl(layout, request),
    say: (line) => io.stdout.write(line + "\n"),
    warn: (line) => io.stderr.write(line + "\n"),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    endProcesses: (uid) => endProcessesOf(uid),
  };
}

/** Text files the admin names (key files, users.yaml). */
export type ReadText = (path: string) => Promise<string>;

/** A key file or users.yaml of thousands of users is far below this; a device or a log is not. */
export const MAX_ADMIN_FILE_BYTES = 4 * 1024 * 1024;

/** Reads in chunks rather than trusting stat: a pipe or /dev/zero reports size 0. */
export const readTextFile: ReadText = async (path) => {
  const fh = await open(path, "r");
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const { bytesRead, buffer } = await fh.read(Buffer.alloc(64 * 1024), 0, 64 * 1024, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > MAX_ADMIN_FILE_BYTES) throw new Error(`it is more than the ${MAX_ADMIN_FILE_BYTES} bytes allowed`);
      chunks.push(buffer.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks).toString("utf8");
  } finally {
    await fh.close();
  }
};
