import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { decideDirectIo, type DirectIoQuestion } from "../../agent/src/core/direct-io/direct-decision.js";
import { stdioOfferOf } from "../../agent/src/core/protocol/stdio-offer.js";
import { claimProblem, fdProblem, pipeInodeOf, uidsOf, type ProcFacts } from "../../agent/src/core/direct-io/claimed-process.js";

const ask = (over: Partial<DirectIoQuestion> = {}): DirectIoQuestion => ({ mode: "auto", offer: { pid: 4242, startTime: "55" }, plan: { kind: "command", tty: false }, engineProblem: null, ...over });

describe("decideDirectIo", () => {
  it("takes the direct path for a command or sftp without a terminal, offered, on a usable runc", () => {
    assert.deepEqual(decideDirectIo(ask()), { direct: true });
    assert.deepEqual(decideDirectIo(ask({ plan: { kind: "sftp", tty: false } })), { direct: true });
  });

  it("keeps the engine path, quietly, when off, not offered, with a terminal, or for a shell or the IDE mode", () => {
    for (const q of [ask({ mode: "off" }), ask({ offer: null }), ask({ plan: { kind: "command", tty: true } }), ask({ plan: { kind: "shell", tty: false } }), ask({ plan: { kind: "inner-sshd", tty: false } })]) {
      const d = decideDirectIo(q);
      assert.equal(d.direct, false);
      assert.equal(!d.direct && d.quiet, true, JSON.stringify(q));
    }
  });

  it("keeps the engine path with a log line when the engine cannot run it directly (gVisor, no runc)", () => {
    const d = decideDirectIo(ask({ engineProblem: "the container is not in runc's state dir (another runtime, e.g. gVisor)" }));
    assert.deepEqual(d, { direct: false, reason: "the container is not in runc's state dir (another runtime, e.g. gVisor)", quiet: false });
  });
});

describe("stdioOfferOf", () => {
  it("accepts a plausible pid with a start time and treats anything else as no offer", () => {
    assert.deepEqual(stdioOfferOf({ pid: 4242, start: "123" }), { pid: 4242, startTime: "123" });
    for (const pid of [undefined, null, "4242", 1, 0, -5, 1.5, 5_000_000, NaN]) assert.equal(stdioOfferOf({ pid, start: "1" }), null, String(pid));
    for (const start of [undefined, 123, "", "12a", "1".repeat(21)]) assert.equal(stdioOfferOf({ pid: 4242, start }), null, String(start));
    assert.equal(stdioOfferOf(4242), null);
  });
});

const facts = (over: Partial<ProcFacts> = {}): ProcFacts => ({ uids: [1001, 1001, 1001, 1001], startTime: "123456", exe: "/usr/bin/node", ...over });
const expected = { uid: 1001, exe: "/usr/bin/node", startTime: "123456" };

describe("claimProblem (the pid checks over /proc facts)", () => {
  it("accepts the user's node process", () => {
    assert.equal(claimProblem(expected, facts()), null);
  });

  it("refuses a process gone, of another uid, mid-setuid (any of the four uids differs), or not node", () => {
    assert.match(claimProblem(expected, null) ?? "", /gone/);
    assert.match(claimProblem(expected, facts({ uids: [0, 0, 0, 0] })) ?? "", /not all 1001/);
    for (let i = 0; i < 4; i++) {
      const uids = [1001, 1001, 1001, 1001];
      uids[i] = 1002;
      assert.match(claimProblem(expected, facts({ uids })) ?? "", /not all 1001/, `uid #${i}`);
    }
    assert.match(claimProblem(expected, facts({ uids: [1001, 1001, 1001] })) ?? "", /not all/);
    assert.match(claimProblem(expected, facts({ exe: "/usr/sbin/sshd" })) ?? "", /runs "\/usr\/sbin\/sshd"/);
  });

  it("refuses a pid that names another process than the one that sent HELLO (start time differs)", () => {
    assert.match(claimProblem(expected, facts({ startTime: "999999" })) ?? "", /start time differs/);
  });

  it("reads the four uids of /proc/PID/status", () => {
    assert.deepEqual(uidsOf("Name:\tnode\nUid:\t1001\t1001\t1002\t1003\nGid:\t5\t5\t5\t5\n"), [1001, 1001, 1002, 1003]);
    assert.equal(uidsOf("Name:\tnode\n"), null);
    assert.equal(uidsOf("Uid:\t1\t2\n"), null);
  });
});

describe("fdProblem", () => {
  const fd = { fd: 0 as const, linkBefore: "pipe:[777]", isFifo: true, inode: 777 };
  it("accepts the anonymous pipe seen before the open", () => {
    assert.equal(pipeInodeOf("pipe:[777]"), 777);
    assert.equal(fdProblem(fd), null);
  });

  it("refuses a socket, a file, a terminal, a named FIFO, something else opened, or a swapped pipe", () => {
    for (const link of ["socket:[12]", "/home/u/notes.txt", "/dev/pts/3", "/tmp/fifo", "anon_inode:[eventfd]"]) assert.match(fdProblem({ ...fd, linkBefore: link }) ?? "", /not an anonymous pipe/, link);
    assert.match(fdProblem({ ...fd, isFifo: false }) ?? "", /other than a pipe/);
    assert.match(fdProblem({ ...fd, inode: 778 }) ?? "", /changed/);
  });
});
