/**
 * Property tests for the parsers of user input in core/users and users.yaml: usernames, key lines,
 * the key registry file, GitHub logins and the GitHub id record.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { stringify } from "yaml";
import { RESERVED_USERNAMES, validateUsername } from "../../agent/src/core/users/username.js";
import { formatPublicKey, parseKeyFile, parsePublicKey } from "../../agent/src/core/users/keys.js";
import { formatRegistry, parseRegistry } from "../../agent/src/core/users/key-registry.js";
import { formatGithubIdRecord, parseGithubIdRecord, validateGithubLogin } from "../../agent/src/core/users/github-login.js";
import { parseUsersConfig } from "../../agent/src/core/config/users-config.js";
import { freshEd25519 } from "./helpers/test-keys.js";
import { onlyInputError, RUNS } from "./helpers/input-errors.js";

// Valid names built from the documented rule, not from the validator.
const validName = fc
  .tuple(fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz"), fc.array(fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789_-"), { maxLength: 31 }))
  .map(([first, rest]) => first + rest.join(""))
  .filter((n) => !RESERVED_USERNAMES.has(n) && !n.startsWith("systemd-"));
const KEYS = Array.from({ length: 6 }, (_, i) => freshEd25519(`k${i}@prop`));
const keyLine = fc.constantFrom(...KEYS);
const comment = fc.string({ maxLength: 30 }).map((c) => c.replace(/[\r\n\0]/g, ""));

describe("usernames (property)", () => {
  it("accepts every name the documented rule allows, unchanged", () => {
    fc.assert(fc.property(validName, (n) => validateUsername(n) === n), RUNS);
  });

  it("never throws anything but an InputError naming the field, for any value", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: "binary", maxLength: 40 }), fc.anything()), fc.constantFrom("user", "users[3].name"), (v, field) => {
        const err = onlyInputError(() => validateUsername(v, field));
        if (err) assert.equal(err.field, field);
      }),
      RUNS,
    );
  });

  it("refuses a valid name with any character outside the rule inserted, naming the field", () => {
    const bad = fc.string({ minLength: 1, maxLength: 1 }).filter((c) => !/[a-z0-9_-]/.test(c));
    fc.assert(
      fc.property(validName, bad, fc.nat(), (n, c, at) => {
        const i = at % (n.length + 1);
        const err = onlyInputError(() => validateUsername(n.slice(0, i) + c + n.slice(i), "name"));
        assert.equal(err?.field, "name");
      }),
      RUNS,
    );
  });
});

describe("key lines and the key registry (property)", () => {
  it("any key line with options before it and any comment after it parses to the same canonical key", () => {
    const options = fc.constantFrom("", "restrict ", 'command="echo hi",no-pty ', 'from="10.0.0.0/8" ');
    fc.assert(
      fc.property(keyLine, options, comment, (line, opt, c) => {
        const [type, base64] = line.split(" ");
        assert.equal(formatPublicKey(parsePublicKey(`${opt}${type} ${base64} ${c}`.trimEnd())), `${type} ${base64}`);
      }),
      RUNS,
    );
  });

  it("a registry written from any set of keys reads back as those keys, once each, in order", () => {
    fc.assert(
      fc.property(fc.array(keyLine, { maxLength: 12 }), (lines) => {
        const keys = lines.map((l) => parsePublicKey(l));
        const back = parseRegistry(formatRegistry(keys), "alice.keys").map(formatPublicKey);
        assert.deepEqual(back, [...new Set(keys.map(formatPublicKey))]);
      }),
      RUNS,
    );
  });

  it("a damaged registry or key file never throws anything but an InputError", () => {
    const damage = fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: "binary", maxLength: 200 }), fc.array(fc.oneof(keyLine, fc.string({ maxLength: 60 })), { maxLength: 5 }).map((a) => a.join("\n")));
    fc.assert(
      fc.property(damage, (text) => {
        onlyInputError(() => parseRegistry(text, "alice.keys"));
        onlyInputError(() => parseKeyFile(text, "--key-file"));
      }),
      RUNS,
    );
  });
});

describe("GitHub logins and the id record (property)", () => {
  const login = fc
    .array(fc.stringMatching(/^[A-Za-z0-9]{1,6}$/), { minLength: 1, maxLength: 5 })
    .map((parts) => parts.join("-"))
    .filter((l) => l.length <= 39);

  it("accepts every login of GitHub's rule and refuses anything else with an InputError naming --github", () => {
    fc.assert(fc.property(login, (l) => validateGithubLogin(l) === l), RUNS);
    fc.assert(
      fc.property(fc.string({ maxLength: 45 }), (s) => {
        const err = onlyInputError(() => validateGithubLogin(s));
        if (err) assert.equal(err.field, "--github");
      }),
      RUNS,
    );
  });

  it("the id record round-trips any logins and ids, and never throws on a damaged file", () => {
    const ids = fc.uniqueArray(fc.tuple(login.map((l) => l.toLowerCase()), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })), { selector: ([l]) => l, maxLength: 8 });
    fc.assert(
      fc.property(ids, (entries) => {
        assert.deepEqual(parseGithubIdRecord(formatGithubIdRecord(new Map(entries))), new Map(entries));
      }),
      RUNS,
    );
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 200 }), (text) => void parseGithubIdRecord(text)), RUNS);
  });
});

describe("users.yaml (property)", () => {
  const user = fc.record({ name: validName, keys: fc.uniqueArray(keyLine, { minLength: 1, maxLength: 3 }) });

  it("accepts any list of distinct users with keys of their own and gives back their names and canonical keys", () => {
    fc.assert(
      fc.property(fc.uniqueArray(user, { selector: (u) => u.name, maxLength: 4 }), (users) => {
        // Each key belongs to one user: drop keys an earlier user already has.
        const seen = new Set<string>();
        const own = users.map((u) => ({ name: u.name, keys: u.keys.filter((k) => !seen.has(k) && (seen.add(k), true)) })).filter((u) => u.keys.length > 0);
        const parsed = parseUsersConfig(stringify({ version: 1, users: own }), "users.yaml");
        assert.deepEqual(parsed.users, own.map((u) => ({ name: u.name, keys: u.keys.map((k) => k.split(" ").slice(0, 2).join(" ")) })));
      }),
      RUNS,
    );
  });

  it("never throws anything but an InputError for any document, and names the file", () => {
    const doc = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.anything().map((v) => String(stringify(v) ?? "")),
      fc.record({ version: fc.oneof(fc.constant(1), fc.anything()), users: fc.array(fc.record({ name: fc.oneof(validName, fc.string()), keys: fc.oneof(fc.array(fc.oneof(keyLine, fc.string())), fc.anything()) }, { requiredKeys: [] }), { maxLength: 3 }) }, { requiredKeys: [] }).map((v) => stringify(v)),
    );
    fc.assert(
      fc.property(doc, (text) => {
        const err = onlyInputError(() => parseUsersConfig(text, "users.yaml"));
        if (err) assert.match(err.field, /^users\.yaml/);
      }),
      RUNS,
    );
  });
});
