import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { renderAuthorizedKeys, renderAuthorizedLine } from "../../agent/src/core/users/authorized-line.js";
import { InputError } from "../../agent/src/core/errors.js";
import { parsePublicKey } from "../../agent/src/core/users/keys.js";
import { fixtureLine } from "./helpers/test-keys.js";

const key = parsePublicKey(fixtureLine("ed25519"));

describe("renderAuthorizedLine", () => {
  it("renders restrict,agent-forwarding,pty and the absolute forced command for the user", () => {
    assert.equal(
      renderAuthorizedLine("/usr/local/lib/podspawn/bin/podspawn", "alice", key),
      `restrict,agent-forwarding,pty,command="/usr/local/lib/podspawn/bin/podspawn spawn --user alice" ssh-ed25519 ${key.base64}`,
    );
  });

  it("never carries the key's original comment or options", () => {
    const k = parsePublicKey(`command="/bin/bash",no-pty ${fixtureLine("ed25519")}`);
    const line = renderAuthorizedLine("/x/podspawn", "alice", k);
    assert.doesNotMatch(line, /bin\/bash|no-pty|fixture-ed25519/);
  });

  it("refuses a relative command or one with quotes or blanks", () => {
    for (const bad of ["podspawn", "/a b/podspawn", '/a"/podspawn', "/a\\b", "/a\tb"]) {
      assert.throws(
        () => renderAuthorizedLine(bad, "alice", key),
        (e: unknown) => e instanceof InputError && e.message === `command path: ${JSON.stringify(bad)} must be absolute and contain no quotes, backslashes or blanks`,
        JSON.stringify(bad),
      );
    }
  });

  it("refuses an invalid user name (it ends up inside the quoted command)", () => {
    assert.throws(() => renderAuthorizedLine("/x/podspawn", 'a" evil', key), /not a valid username/);
  });

  it("renders one newline-terminated line per key", () => {
    const keys = [key, parsePublicKey(fixtureLine("ecdsa256"))];
    const text = renderAuthorizedKeys("/x/podspawn", "bob", keys);
    assert.equal(text, keys.map((k) => `${renderAuthorizedLine("/x/podspawn", "bob", k)}\n`).join(""));
    assert.equal(text.split("\n").length, 3);
    assert.equal(renderAuthorizedKeys("/x/podspawn", "bob", []), "");
  });
});
