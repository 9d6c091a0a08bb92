import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Key fixtures made with ssh-keygen (sk-* built by hand: no FIDO token here) in test/fixtures/keys. */
export const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..", "test", "fixtures", "keys");

export function fixtureLine(name: string): string {
  return readFileSync(join(FIXTURE_DIR, `${name}.pub`), "utf8").trim();
}

function sshString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** A fresh `ssh-ed25519 BASE64 comment` line, for tests that need many distinct keys. */
export function freshEd25519(comment = "test@podspawn"): string {
  const raw = generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  const blob = Buffer.concat([sshString(Buffer.from("ssh-ed25519")), sshString(raw)]);
  return `ssh-ed25519 ${blob.toString("base64")} ${comment}`;
}

export function blobOf(line: string): Buffer {
  return Buffer.from(line.split(" ")[1] ?? "", "base64");
}
export function lineOf(type: string, blob: Buffer): string {
  return `${type} ${blob.toString("base64")}`;
}
export { sshString };
