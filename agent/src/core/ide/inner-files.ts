import type { TarEntry } from "../../support/tar.js";
import type { ContainerAccount } from "../container/exec-plan.js";
import type { PublicKey } from "../users/keys.js";
import { INNER_PATHS } from "./inner-sshd.js";
import { renderInnerSshdConfig } from "./inner-sshd-config.js";

/** A host key and its certificate, as files (OpenSSH formats). */
export interface HostKeyFiles {
  readonly privateKey: Buffer;
  readonly certificate: Buffer;
}

/** One `type base64` line per registered key: no options, sshd_config decides what a session may do. */
export function renderInnerAuthorizedKeys(user: string, keys: readonly PublicKey[]): string {
  return [`# ${user}'s keys registered with podspawn; written by the node daemon at each IDE session start.`, ...keys.map((k) => `${k.type} ${k.base64}`), ""].join("\n");
}

/**
 * What the daemon writes into the container before sshd -i starts. Directories and the config
 * and keys files are root's and read-only for the user (sshd's StrictModes accepts root-owned
 * files; the user cannot add a key or loosen the config). Only the host key belongs to the user,
 * 0600, because sshd runs as the user and must read it. `hostKey` is absent when the container
 * already has a valid one.
 */
export function planInnerFiles(account: ContainerAccount, keys: readonly PublicKey[], hostKey: HostKeyFiles | null): TarEntry[] {
  const root = { uid: 0, gid: 0 };
  const entries: TarEntry[] = [
    { path: INNER_PATHS.dir.slice(1), type: "dir", mode: 0o755, ...root },
    { path: INNER_PATHS.sshdDir.slice(1), type: "dir", mode: 0o755, ...root },
    { path: INNER_PATHS.config.slice(1), type: "file", mode: 0o644, ...root, data: Buffer.from(renderInnerSshdConfig(account.name)) },
    { path: INNER_PATHS.authorizedKeys.slice(1), type: "file", mode: 0o644, ...root, data: Buffer.from(renderInnerAuthorizedKeys(account.name, keys)) },
  ];
  if (hostKey) {
    entries.push(
      { path: INNER_PATHS.hostKey.slice(1), type: "file", mode: 0o600, uid: account.uid, gid: account.gid, data: hostKey.privateKey },
      { path: INNER_PATHS.hostCert.slice(1), type: "file", mode: 0o644, ...root, data: hostKey.certificate },
    );
  }
  return entries;
}
