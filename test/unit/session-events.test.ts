import { describe, it } from "node:test";
import { createHash } from "node:crypto";
import assert from "node:assert/strict";
import fc from "fast-check";
import { formatEvent, type DaemonEvent } from "../../agent/src/daemon/log.js";
import { auditRecordOf, logEventOf, sessionReporter, type AuditRecord, type SessionEvent } from "../../agent/src/daemon/session/session-events.js";

const AT = new Date("2026-01-02T03:04:05.000Z");
const line = (e: SessionEvent): string | null => {
  const d = logEventOf(e);
  return d ? formatEvent(d, AT) : null;
};

describe("session events -> daemon log line", () => {
  it("writes a command session's start with its kind, terminal and key, and no port", () => {
    const e: SessionEvent = { type: "started", session: 7, user: "alice", project: "web", kind: "command", tty: false, key: "SHA256:abc", command: "make test" };
    assert.equal(line(e), "2026-01-02T03:04:05.000Z session-start user=alice project=web sessionId=7 exec=command tty=false key=SHA256:abc\n");
  });

  it("marks a session on the direct stdio path with stdio=direct, in the log line and the audit record", () => {
    const e: SessionEvent = { type: "started", session: 9, user: "alice", project: "web", kind: "sftp", tty: false, key: "SHA256:abc", stdio: "direct" };
    assert.equal(line(e), "2026-01-02T03:04:05.000Z session-start user=alice project=web sessionId=9 exec=sftp tty=false key=SHA256:abc stdio=direct\n");
    assert.equal(auditRecordOf(e)?.["stdio"], "direct");
  });

  it("writes a tunnel's start with its port, and 'unknown' for a key spawn could not tell", () => {
    const e: SessionEvent = { type: "started", session: 8, user: "bob", project: "default", kind: "tunnel", tty: false, key: null, port: 8080 };
    assert.equal(line(e), "2026-01-02T03:04:05.000Z session-start user=bob project=default sessionId=8 exec=tunnel tty=false key=unknown port=8080\n");
  });

  it("writes the end with the exit code and the reason", () => {
    assert.equal(line({ type: "ended", session: 7, user: "alice", project: "web", exitCode: 3, reason: "exited" }), "2026-01-02T03:04:05.000Z session-end user=alice project=web sessionId=7 exitCode=3 reason=exited\n");
    assert.equal(line({ type: "ended", session: 9, user: "alice", project: "web", exitCode: null, reason: "idle-timeout" }), "2026-01-02T03:04:05.000Z session-end user=alice project=web sessionId=9 exitCode=null reason=idle-timeout\n");
  });

  it("writes a failure as an error line with its catalog code and the admin's detail", () => {
    assert.deepEqual(logEventOf({ type: "failed", session: 4, user: "alice", code: "docker-down", detail: "connect ENOENT /var/run/docker.sock" }), { kind: "error", code: "docker-down", message: "session 4 for alice failed", detail: "connect ENOENT /var/run/docker.sock" });
  });

  it("keeps a refused tunnel out of the daemon log (it is the user's port, audited only)", () => {
    assert.equal(logEventOf({ type: "tunnel-refused", session: 5, user: "alice", project: "web", port: 9, reason: "ECONNREFUSED" }), null);
  });
});

describe("session events -> audit record", () => {
  it("records a command session's start with its command line", () => {
    assert.deepEqual(auditRecordOf({ type: "started", session: 7, user: "alice", project: "web", kind: "command", tty: false, key: "SHA256:abc", command: "make test" }), {
      event: "session-start",
      user: "alice",
      project: "web",
      session: 7,
      key: "SHA256:abc",
      kind: "command",
      tty: false,
      command: "make test",
      commandSha256: "22cc66aa7d2624b4eb4d5b61658614cd6c32477b123afbf7dbc7fc3d7d0f3713",
    });
  });

  it("keeps the first 1 KiB of a long command (on a character boundary) with the length and the hash of all of it", () => {
    const command = "é".repeat(256 * 1024 / 2);
    const r = auditRecordOf({ type: "started", session: 1, user: "alice", project: "web", kind: "command", tty: false, key: null, command }) as Record<string, unknown>;
    assert.equal(r["command"], "é".repeat(512));
    assert.equal(r["commandBytes"], 256 * 1024);
    assert.equal(r["commandTruncated"], true);
    assert.equal(r["commandSha256"], createHash("sha256").update(command).digest("hex"));
    const odd = "a" + "é".repeat(600);
    assert.equal((auditRecordOf({ type: "started", session: 1, user: "alice", project: "web", kind: "command", tty: false, key: null, command: odd }) as Record<string, unknown>)["command"], "a" + "é".repeat(511));
    assert.ok(JSON.stringify(r).length < 2 * 1024);
  });

  it("records a shell's start without a command, and a null key as null", () => {
    assert.deepEqual(auditRecordOf({ type: "started", session: 2, user: "alice", project: "default", kind: "shell", tty: true, key: null }), { event: "session-start", user: "alice", project: "default", session: 2, key: null, kind: "shell", tty: true });
  });

  it("records a tunnel's start with its port", () => {
    assert.deepEqual(auditRecordOf({ type: "started", session: 8, user: "bob", project: "default", kind: "tunnel", tty: false, key: "SHA256:k", port: 8080 }), { event: "session-start", user: "bob", project: "default", session: 8, key: "SHA256:k", kind: "tunnel", tty: false, port: 8080 });
  });

  it("records the end, and a refused tunnel with its port and reason", () => {
    assert.deepEqual(auditRecordOf({ type: "ended", session: 7, user: "alice", project: "web", exitCode: 0, reason: "exited" }), { event: "session-end", user: "alice", project: "web", session: 7, exitCode: 0, reason: "exited" });
    assert.deepEqual(auditRecordOf({ type: "tunnel-refused", session: 5, user: "alice", project: "web", port: 9, reason: "ECONNREFUSED" }), { event: "tunnel-refused", user: "alice", project: "web", session: 5, port: 9, reason: "ECONNREFUSED" });
  });

  it("keeps failures (the admin's detail) out of the audit", () => {
    assert.equal(auditRecordOf({ type: "failed", session: 4, user: "alice", code: "internal", detail: "x" }), null);
  });
});

const who = { session: fc.nat(), user: fc.constantFrom("alice", "bob"), project: fc.constantFrom("default", "web") };
const anyEvent: fc.Arbitrary<SessionEvent> = fc.oneof(
  fc.record({ type: fc.constant("started" as const), ...who, kind: fc.constantFrom("shell" as const, "command" as const, "sftp" as const, "tunnel" as const), tty: fc.boolean(), key: fc.option(fc.string(), { nil: null }), command: fc.option(fc.string(), { nil: undefined }), port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }) }, { requiredKeys: ["type", "session", "user", "project", "kind", "tty", "key"] }),
  fc.record({ type: fc.constant("ended" as const), ...who, exitCode: fc.option(fc.integer({ min: 0, max: 255 }), { nil: null }), reason: fc.constantFrom("exited" as const, "disconnected" as const, "idle-timeout" as const, "client-gone" as const, "error" as const) }),
  fc.record({ type: fc.constant("tunnel-refused" as const), ...who, port: fc.integer({ min: 1, max: 65535 }), reason: fc.string() }),
  fc.record({ type: fc.constant("failed" as const), session: fc.nat(), user: fc.constant("alice"), code: fc.constantFrom("internal" as const, "docker-down" as const), detail: fc.string() }),
);

describe("sessionReporter", () => {
  it("hands each event to the log and the audit once, as their mappings say", () => {
    fc.assert(
      fc.property(anyEvent, (e) => {
        const logged: DaemonEvent[] = [];
        const audited: AuditRecord[] = [];
        sessionReporter((d) => logged.push(d), (r) => audited.push(r))(e);
        const l = logEventOf(e);
        const a = auditRecordOf(e);
        assert.deepEqual(logged, l ? [l] : []);
        assert.deepEqual(audited, a ? [a] : []);
        assert.ok(l !== null || a !== null, "every fact lands somewhere");
      }),
    );
  });

  it("never writes a field without a value (no 'undefined' in the log, nothing dropped by JSON in the audit)", () => {
    fc.assert(
      fc.property(anyEvent, (e) => {
        const l = logEventOf(e);
        if (l) assert.ok(Object.values(l).every((v) => v !== undefined), JSON.stringify(l));
        const a = auditRecordOf(e);
        if (a) assert.deepEqual(JSON.parse(JSON.stringify(a)), a);
      }),
    );
  });
});
