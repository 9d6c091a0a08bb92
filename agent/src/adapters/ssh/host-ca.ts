import { chmod, mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { HostKeyFiles } from "../../core/ide/inner-files.js";
import { caKeygenArgs, hostKeygenArgs, hostSignArgs } from "../../core/ide/host-cert.js";
import { describeExit, processMessage, runProcess, type RunProcess } from "../process/run-process.js";

/**
 * The node's host CA: an ed25519 key under the daemon's state dir (root 0700, the key 0600) that
 * signs each container's inner sshd host key. Its public half is what the fleet manifest and
 * `client-setup` publish as `@cert-authority`. ssh-keygen does the cryptography (measured: a key
 * and its certificate cost ~5 ms of two ssh-keygen runs, nothing next to a login).
 */
export interface HostCa {
  /** The CA's public key as `type base64` (no comment): the manifest's nodes[].hostCa. */
  readonly publicKey: string;
  /** A new host key signed for `identity`, both as file contents. */
  issue(identity: string): Promise<HostKeyFiles>;
}

const KEYGEN = "ssh-keygen";
const KEYGEN_TIMEOUT_MS = 10_000;

export function hostCaDir(stateDir: string): string {
  return join(stateDir, "host-ca");
}

async function keygen(run: RunProcess, args: readonly string[]): Promise<void> {
  const r = await run(KEYGEN, args, { timeoutMs: KEYGEN_TIMEOUT_MS });
  if (r.code !== 0) throw new Error(`ssh-keygen ${args.includes("-s") ? "signing" : "key generation"} failed (${describeExit(r, KEYGEN_TIMEOUT_MS)}): ${processMessage(r)}`);
}

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

/** Loads the CA from `dir`, generating it the first time. */
export async function openHostCa(dir: string, comment: string, run: RunProcess = runProcess): Promise<HostCa> {
  const keyFile = join(dir, "host_ca");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  if (!(await exists(keyFile))) await keygen(run, caKeygenArgs(keyFile, comment));
  await chmod(keyFile, 0o600);
  const publicKey = (await readFile(`${keyFile}.pub`, "utf8")).trim().split(/\s+/).slice(0, 2).join(" ");
  return {
    publicKey,
    issue: (identity) => issueHostKey(run, dir, keyFile, identity),
  };
}

/** Key and certificate are made in a private scratch dir under the CA's dir and removed after. */
async function issueHostKey(run: RunProcess, dir: string, caKeyFile: string, identity: string): Promise<HostKeyFiles> {
  const scratch = await mkdtemp(join(dir, "issue-"));
  try {
    const keyFile = join(scratch, "host_key");
    await keygen(run, hostKeygenArgs(keyFile, identity));
    await keygen(run, hostSignArgs(caKeyFile, keyFile, identity));
    return { privateKey: await readFile(keyFile), certificate: await readFile(`${keyFile}-cert.pub`) };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
