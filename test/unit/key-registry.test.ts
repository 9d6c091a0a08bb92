import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InputError } from "../../agent/src/core/errors.js";
import { formatRegistry, MAX_REGISTRY_BYTES, parseRegistry, registryCapProblem } from "../../agent/src/core/users/key-registry.js";
import type { PublicKey } from "../../agent/src/core/users/keys.js";
import { parsePublicKey } from "../../agent/src/core/users/keys.js";
import { fixtureLine } from "./helpers/test-keys.js";

const ed = parsePublicKey(fixtureLine("ed25519"));
const ec = parsePublicKey(fixtureLine("ecdsa256"));
const canonical = (name: string): string => fixtureLine(name).split(" ").slice(0, 2).join(" ");

describe("key registry file", () => {
  it("is one canonical `type base64` line per key, each newline-terminated, repeats dropped", () => {
    assert.equal(formatRegistry([ed, ec, ed]), `${canonical("ed25519")}\n${canonical("ecdsa256")}\n`);
    assert.equal(formatRegistry([]), "");
  });

  it("reads back what it writes", () => {
    assert.deepEqual(parseRegistry(formatRegistry([ed, ec]), "alice.keys"), [ed, ec]);
  });

  it("refuses a damaged file as a whole, naming the file and line", () => {
    assert.throws(() => parseRegistry(`${canonical("ed25519")}\nssh-ed25519 AAAA\n`, "/etc/podspawn/users/alice.keys"), (e: unknown) => e instanceof InputError && e.field === "/etc/podspawn/users/alice.keys:2");
  });
});

describe("registryCapProblem (checked on write, so every registry stays readable)", () => {
  const key = (i: number, chars: number): PublicKey => ({ type: "ssh-rsa", base64: `${"A".repeat(chars - 8)}${String(i).padStart(8, "0")}`, fingerprint: `SHA256:${i}`, bits: 16384 });

  it("allows 100 keys and refuses the 101st, counting each key once", () => {
    const hundred = Array.from({ length: 100 }, (_, i) => key(i, 100));
    assert.equal(registryCapProblem(hundred), null);
    assert.equal(registryCapProblem([...hundred, hundred[0] as PublicKey]), null, "a repeat is not a new key");
    assert.equal(registryCapProblem([...hundred, key(100, 100)]), "101 keys is more than 100 per user");
  });

  it("refuses keys whose registry file would pass the 1 MiB read cap, even under 100 keys", () => {
    const big = Array.from({ length: 70 }, (_, i) => key(i, 16_000));
    assert.ok(Buffer.byteLength(formatRegistry(big)) > MAX_REGISTRY_BYTES);
    assert.match(registryCapProblem(big) ?? "", /^the keys take \d+ bytes, more than 1048576 per user$/);
    assert.equal(registryCapProblem(big.slice(0, 60)), null);
    assert.ok(Buffer.byteLength(formatRegistry(big.slice(0, 60))) <= MAX_REGISTRY_BYTES);
  });
});
