import { describe, it } from "node:test";
import { parsePublicKey } from "../../agent/src/core/users/keys.js";
import { fixtureLine } from "./helpers/test-keys.js";
import assert from "node:assert/strict";
import fc from "fast-check";
import { InputError } from "../../agent/src/core/errors.js";
import { FORWARDED_SIGNALS, MAX_COMMAND_BYTES, parseResize, parseSessionRequest, parseSignal } from "../../agent/src/core/protocol/session-request.js";

function refusedOn(field: string, pattern?: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof InputError, `expected InputError, got ${String(err)}`);
    assert.equal(err.field, field);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

describe("parseSessionRequest", () => {
  it("accepts a full valid hello", () => {
    const req = parseSessionRequest({
      v: 1,
      command: "ls -la",
      tty: true,
      cols: 120,
      rows: 40,
      term: "xterm-256color",
      env: { LANG: "en_US.UTF-8" },
      project: "web-app",
    });
    assert.deepEqual(req, {
      command: "ls -la",
      tty: true,
      cols: 120,
      rows: 40,
      term: "xterm-256color",
      env: { LANG: "en_US.UTF-8" },
      project: "web-app",
      keyFingerprint: null,
      agent: false,
      stdio: null,
    });
  });

  it("derives the accepted key's fingerprint for the audit log, and ignores an unparsable one", () => {
    const line = fixtureLine("ed25519");
    assert.equal(parseSessionRequest({ v: 1, authKey: line }).keyFingerprint, parsePublicKey(line).fingerprint);
    assert.equal(parseSessionRequest({ v: 1, authKey: "ssh-ed25519 AAAA-not-a-key" }).keyFingerprint, null);
    assert.equal(parseSessionRequest({ v: 1, authKey: 42 }).keyFingerprint, null);
  });

  it("fills defaults for a minimal hello", () => {
    assert.deepEqual(parseSessionRequest({ v: 1 }), { command: null, tty: false, cols: 0, rows: 0, term: null, env: {}, project: "default", keyFingerprint: null, agent: false, stdio: null });
  });

  it("treats only tty === true as a tty request", () => {
    assert.equal(parseSessionRequest({ v: 1, tty: "yes" }).tty, false);
    assert.equal(parseSessionRequest({ v: 1, tty: 1 }).tty, false);
  });

  it("refuses a hello that is not an object", () => {
    for (const raw of [null, "hello", 1, [1]]) assert.throws(() => parseSessionRequest(raw), refusedOn("hello"));
  });

  it("refuses an unsupported protocol version", () => {
    for (const v of [undefined, 0, 2, "1"]) assert.throws(() => parseSessionRequest({ v }), refusedOn("hello.v", /protocol version/));
  });

  describe("command", () => {
    it("refuses a command that is not a string", () => {
      for (const command of [42, ["ls"], { a: 1 }, true]) assert.throws(() => parseSessionRequest({ v: 1, command }), refusedOn("command"));
    });

    it("refuses a command containing a NUL byte", () => {
      assert.throws(() => parseSessionRequest({ v: 1, command: "ls\0-la" }), refusedOn("command", /NUL/));
    });

    it("accepts a command of exactly the byte limit and refuses one byte more", () => {
      const ok = "a".repeat(MAX_COMMAND_BYTES);
      assert.equal(parseSessionRequest({ v: 1, command: ok }).command, ok);
      assert.throws(() => parseSessionRequest({ v: 1, command: ok + "a" }), refusedOn("command", /longer than/));
    });

    it("measures the command limit in UTF-8 bytes, not characters", () => {
      const multi = "é".repeat(MAX_COMMAND_BYTES / 2 + 1);
      assert.throws(() => parseSessionRequest({ v: 1, command: multi }), refusedOn("command"));
    });

    it("passes any NUL-free string command through unchanged", () => {
      fc.assert(
        fc.property(
          fc.string({ unit: "binary", maxLength: 200 }).filter((s) => !s.includes("\0") && s.trim() !== ""),
          (command) => {
            assert.equal(parseSessionRequest({ v: 1, command }).command, command);
          },
        ),
      );
    });

    it("treats null, empty and whitespace-only commands as no command", () => {
      for (const command of [null, undefined, "", "   "]) assert.equal(parseSessionRequest({ v: 1, command }).command, null);
    });
  });

  describe("TERM", () => {
    it("accepts ordinary terminal names", () => {
      for (const term of ["xterm-256color", "screen.xterm-256color", "vt100", "rxvt-unicode+x", "a".repeat(64)]) {
        assert.equal(parseSessionRequest({ v: 1, term }).term, term);
      }
    });

    it("refuses a TERM with shell metacharacters", () => {
      assert.throws(() => parseSessionRequest({ v: 1, term: "xterm;rm -rf" }), refusedOn("TERM"));
    });

    it("refuses a TERM of 65 characters", () => {
      assert.throws(() => parseSessionRequest({ v: 1, term: "a".repeat(65) }), refusedOn("TERM"));
    });

    it("refuses an empty or non-string TERM", () => {
      for (const term of ["", 5, ["xterm"], "xterm\n"]) assert.throws(() => parseSessionRequest({ v: 1, term }), refusedOn("TERM"));
    });
  });

  describe("env", () => {
    it("keeps LANG, LANGUAGE and LC_* with safe values", () => {
      const env = { LANG: "en_US.UTF-8", LANGUAGE: "en_US:en", LC_ALL: "C", LC_TIME: "de_DE.UTF-8@euro", LC_CTYPE: "" };
      assert.deepEqual(parseSessionRequest({ v: 1, env }).env, env);
    });

    it("drops everything else and locale values that are not safe", () => {
      const env = {
        LD_PRELOAD: "/tmp/x.so",
        PATH: "/tmp",
        HOME: "/root",
        LC_ALL: "$(id)",
        LANG: "en US",
        LC_lower: "C",
        lc_all: "C",
        LC_: "C",
        LANGX: "C",
        LANGUAGE: 5,
        LC_NUMERIC: "a".repeat(65),
        LC_TIME: "C",
      };
      assert.deepEqual(parseSessionRequest({ v: 1, env }).env, { LC_TIME: "C" });
    });

    it("never keeps a key outside the locale set, whatever the client sends", () => {
      fc.assert(
        fc.property(fc.dictionary(fc.string({ maxLength: 12 }), fc.string({ maxLength: 70 })), (env) => {
          const out = parseSessionRequest({ v: 1, env }).env;
          for (const [k, v] of Object.entries(out)) {
            assert.match(k, /^(LANG|LANGUAGE|LC_[A-Z]{1,20})$/);
            assert.match(v, /^[A-Za-z0-9._@:-]{0,64}$/);
            assert.equal(env[k], v);
          }
        }),
      );
    });

    it("does not let a __proto__ key reach the result", () => {
      const raw = JSON.parse('{"v":1,"env":{"__proto__":{"LANG":"C"},"LANG":"C"}}') as unknown;
      const env = parseSessionRequest(raw).env;
      assert.deepEqual(Object.keys(env), ["LANG"]);
      assert.equal(Object.getPrototypeOf(env), Object.prototype);
    });

    it("refuses env that is not a mapping", () => {
      for (const env of ["LANG=C", ["LANG=C"], 3]) assert.throws(() => parseSessionRequest({ v: 1, env }), refusedOn("env"));
    });
  });

  describe("project", () => {
    it("defaults the project when it is missing, null or empty", () => {
      for (const project of [undefined, null, ""]) assert.equal(parseSessionRequest({ v: 1, project }).project, "default");
    });

    it("refuses an invalid project naming PODSPAWN_PROJECT", () => {
      for (const project of ["../x", "UPPER", "-x", "x-", "a".repeat(41), "a b", 7]) {
        assert.throws(() => parseSessionRequest({ v: 1, project }), refusedOn("PODSPAWN_PROJECT"));
      }
    });

    it("accepts a DNS-safe project name", () => {
      for (const project of ["a", "my-proj-2", "a".repeat(40)]) assert.equal(parseSessionRequest({ v: 1, project }).project, project);
    });
  });

  describe("window size", () => {
    it("treats missing, null or zero sizes as unknown (0)", () => {
      for (const cols of [undefined, null, 0]) assert.equal(parseSessionRequest({ v: 1, cols, rows: cols }).cols, 0);
    });

    it("accepts sizes from 1 to 10000", () => {
      const req = parseSessionRequest({ v: 1, cols: 1, rows: 10_000 });
      assert.equal(req.cols, 1);
      assert.equal(req.rows, 10_000);
    });

    it("refuses sizes that are not integers in 1-10000, naming the field", () => {
      for (const bad of [-1, 10_001, 1.5, "80", Number.NaN, Infinity]) {
        assert.throws(() => parseSessionRequest({ v: 1, cols: bad }), refusedOn("cols"));
        assert.throws(() => parseSessionRequest({ v: 1, rows: bad }), refusedOn("rows"));
      }
    });
  });
});

describe("parseResize", () => {
  it("returns the given size", () => {
    assert.deepEqual(parseResize({ cols: 100, rows: 30 }), { cols: 100, rows: 30 });
  });

  it("falls back to 80x24 for missing or zero sizes", () => {
    assert.deepEqual(parseResize({}), { cols: 80, rows: 24 });
    assert.deepEqual(parseResize(null), { cols: 80, rows: 24 });
    assert.deepEqual(parseResize({ cols: 0, rows: 0 }), { cols: 80, rows: 24 });
  });

  it("refuses out-of-range sizes", () => {
    assert.throws(() => parseResize({ cols: 20_000, rows: 24 }), refusedOn("cols"));
    assert.throws(() => parseResize({ cols: 80, rows: -3 }), refusedOn("rows"));
  });
});

describe("parseSignal", () => {
  it("accepts every forwarded signal", () => {
    for (const s of FORWARDED_SIGNALS) assert.equal(parseSignal(s), s);
  });

  it("refuses signals outside the whitelist", () => {
    for (const s of ["SIGKILL", "SIGSTOP", "SIGCONT", "KILL", "sigint", "9", "", "SIGINT ", "__proto__", "constructor"]) {
      assert.equal(parseSignal(s), null, s);
    }
  });
});
