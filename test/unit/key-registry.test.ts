import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InputError } from "../../agent/src/core/errors.js";
import { formatRegistry, parseRegistry } from "../../agent/src/core/users/key-registry.js";
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
