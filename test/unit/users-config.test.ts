import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InputError } from "../../agent/src/core/errors.js";
import { parsePublicKey, formatPublicKey } from "../../agent/src/core/users/keys.js";
import { parseUsersConfig } from "../../agent/src/core/config/users-config.js";
import { blobOf, fixtureLine, freshEd25519 } from "./helpers/test-keys.js";

const ED = fixtureLine("ed25519");
const EC = fixtureLine("ecdsa256");

function refuses(text: string, message: string | RegExp): void {
  assert.throws(
    () => parseUsersConfig(text, "users.yaml"),
    (e: unknown) => e instanceof InputError && (typeof message === "string" ? e.message.startsWith(message) : message.test(e.message)),
  );
}

describe("parseUsersConfig", () => {
  it("reads users with canonical keys, comments and options dropped, repeats removed", () => {
    const cfg = parseUsersConfig(`version: 1\nusers:\n  - name: alice\n    keys:\n      - ${ED}\n      - "${ED}"\n  - name: bob\n    keys: ["${EC}"]\n`, "users.yaml");
    assert.deepEqual(cfg, {
      version: 1,
      users: [
        { name: "alice", keys: [formatPublicKey(parsePublicKey(ED))] },
        { name: "bob", keys: [formatPublicKey(parsePublicKey(EC))] },
      ],
    });
  });

  it("refuses more than 100 keys for one user, naming the user's keys and the cap", () => {
    const keys = Array.from({ length: 101 }, (_, i) => `      - ${freshEd25519(`k${i}`)}`).join("\n");
    refuses(`version: 1\nusers:\n  - name: alice\n    keys:\n${keys}\n`, /users\[0\]\.keys: 101 keys is more than 100 per user \(allowed: at most 100 keys and 1048576 bytes of keys per user\)/);
  });

  it("accepts an empty user list (sync then removes everyone)", () => {
    assert.deepEqual(parseUsersConfig("version: 1\nusers: []\n", "u.yaml").users, []);
  });

  it("names file, line and path for a malformed key", () => {
    const blob = blobOf(ED);
    const truncated = `ssh-ed25519 ${blob.subarray(0, blob.length - 4).toString("base64")}`;
    const text = [
      "version: 1",
      "users:",
      "  - name: alice",
      "    keys:",
      `      - ${ED}`,
      "  - name: bob",
      "    keys:",
      `      - ${truncated}`,
      "",
    ].join("\n");
    refuses(text, "users.yaml:8: users[1].keys[0]: malformed ssh-ed25519 key: truncated");
  });

  it("refuses a bad user name with its line", () => {
    refuses(`version: 1\nusers:\n  - name: Alice\n    keys: ["${ED}"]\n`, 'users.yaml:3: users[0].name: "Alice" is not a valid username');
  });

  it("refuses duplicate names, pointing at the first", () => {
    refuses(`version: 1\nusers:\n  - name: a\n    keys: ["${ED}"]\n  - name: a\n    keys: ["${EC}"]\n`, 'users.yaml:5: users[1].name: "a" is already listed at users[0]');
  });

  it("refuses one key listed for two users", () => {
    refuses(`version: 1\nusers:\n  - name: a\n    keys: ["${ED}"]\n  - name: b\n    keys:\n      - ${freshEd25519()}\n      - ${ED}\n`, /^users\.yaml:8: users\[1\]\.keys\[1\]: key SHA256:\S+ is already listed for "a"/);
  });

  it("refuses unknown fields, wrong versions, missing or empty keys, and non-lists", () => {
    refuses(`version: 1\nusers: []\nextra: 1\n`, "users.yaml:3: extra: unknown field");
    refuses(`version: 2\nusers: []\n`, "users.yaml:1: version: expected 1, got number 2");
    refuses(`version: 1\nusers: {}\n`, "users.yaml:2: users: expected a list, got a mapping");
    refuses(`version: 1\nusers:\n  - name: a\n`, "users.yaml:3: users[0].keys: is required (allowed: a non-empty list of public keys)");
    refuses(`version: 1\nusers:\n  - name: a\n    keys: []\n`, "users.yaml:4: users[0].keys: is empty (allowed: a non-empty list of public keys)");
    refuses(`version: 1\nusers:\n  - name: a\n    keys: ["${ED}"]\n    shell: /bin/bash\n`, "users.yaml:5: users[0].shell: unknown field");
    refuses(`version: 1\nusers:\n  - name: a\n    keys: [42]\n`, "users.yaml:4: users[0].keys[0]: expected a key line, got number 42");
  });

  it("reports YAML syntax errors with a line", () => {
    refuses(`version: 1\nusers:\n  - name: a\n    keys: [\n`, /^users\.yaml:\d+: not valid YAML/);
    refuses(`version: 1\nversion: 1\nusers: []\n`, "users.yaml:2: version: duplicate key, already set on line 1");
  });
});
