import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { engineRuntimeProblem, runcExecArgs, runcVersionProblem, type EngineRuntimeFacts } from "../../agent/src/core/direct-io/runc-exec-args.js";
import type { ExecPlan } from "../../agent/src/core/container/exec-plan.js";
import { KILLED_STATUS, WAITER_SCRIPT, waiterArgv, waiterStatusOf } from "../../agent/src/core/direct-io/session-waiter.js";
import { sessionRecordOf } from "../../agent/src/daemon/direct-io/direct-io.js";

const ID = "a".repeat(64);
const target = { root: "/run/docker/runtime-runc/moby", systemdCgroup: false, logFile: "/run/podspawn/direct/runc.log" };
const plan: ExecPlan = { kind: "command", argv: ["/bin/sh", "-c", "--root /tmp; rm -rf /"], tty: false, env: ["HOME=/home/alice", "LANG=C.UTF-8"], user: "1001:1001", workdir: "/home/alice" };

describe("runcExecArgs", () => {
  it("puts the daemon's choices before the container id and the user's argv only after it", () => {
    const args = runcExecArgs(target, ID, plan, "/run/podspawn/direct/7.pid");
    assert.deepEqual(args, [
      "--root", "/run/docker/runtime-runc/moby", "--log", "/run/podspawn/direct/runc.log", "--log-format", "json",
      "exec", "--detach", "--preserve-fds", "3", "--user", "1001:1001", "--cwd", "/home/alice", "--env", "HOME=/home/alice", "--env", "LANG=C.UTF-8", "--pid-file", "/run/podspawn/direct/7.pid",
      ID, "/bin/sh", "-c", WAITER_SCRIPT, "podspawn", "/bin/sh", "-c", "--root /tmp; rm -rf /",
    ]);
  });

  it("adds --systemd-cgroup for an engine on the systemd cgroup driver", () => {
    assert.ok(runcExecArgs({ ...target, systemdCgroup: true }, ID, plan, "/p").includes("--systemd-cgroup"));
  });

  it("refuses a short id, a terminal, or a user name instead of uid:gid", () => {
    assert.throws(() => runcExecArgs(target, "abc", plan, "/p"), /full container id/);
    assert.throws(() => runcExecArgs(target, ID, { ...plan, tty: true }, "/p"), /without a terminal/);
    assert.throws(() => runcExecArgs(target, ID, { ...plan, user: "root" }, "/p"), /uid:gid/);
  });
});

describe("runcVersionProblem", () => {
  it("accepts Debian 12's runc and newer, refuses older or unreadable output", () => {
    assert.equal(runcVersionProblem("runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\n"), null);
    assert.equal(runcVersionProblem("runc version 1.2.0\n"), null);
    assert.match(runcVersionProblem("runc version 1.0.3\n") ?? "", /older than 1\.1\.0/);
    assert.match(runcVersionProblem("crun version 1.8") ?? "", /said/);
  });
});

describe("engineRuntimeProblem", () => {
  const info: EngineRuntimeFacts = { defaultRuntime: "runc", runtimes: { runc: "runc", "io.containerd.runc.v2": "runc", runsc: "/usr/bin/runsc" }, cgroupDriver: "cgroupfs", securityOptions: ["name=seccomp,profile=default"] };
  it("accepts this machine's engine (20.10, runc, cgroupfs)", () => {
    assert.equal(engineRuntimeProblem(info), null);
  });
  it("refuses userns-remap or rootless, a missing or foreign runc, an unknown cgroup driver", () => {
    assert.match(engineRuntimeProblem({ ...info, securityOptions: ["name=userns"] }) ?? "", /remaps/);
    assert.match(engineRuntimeProblem({ ...info, securityOptions: ["name=rootless"] }) ?? "", /remaps/);
    assert.match(engineRuntimeProblem({ ...info, runtimes: { runsc: "runsc" } }) ?? "", /no runtime named runc/);
    assert.match(engineRuntimeProblem({ ...info, runtimes: { runc: "/opt/crun" } }) ?? "", /crun/);
    assert.match(engineRuntimeProblem({ ...info, cgroupDriver: "none" }) ?? "", /cgroup driver/);
  });
});

describe("the waiter", () => {
  it("takes the session's argv as positional parameters after its fixed script, never inside it", () => {
    const argv = ["/bin/sh", "-c", "echo $HOME; '\"$@\"'"];
    assert.deepEqual(waiterArgv(argv), ["/bin/sh", "-c", WAITER_SCRIPT, "podspawn", ...argv]);
    assert.ok(!WAITER_SCRIPT.includes("$HOME"));
    assert.throws(() => waiterArgv([]), /needs a command/);
  });

  it("reads the status line once it is complete; anything else it could say counts as killed", () => {
    assert.equal(waiterStatusOf(""), null);
    assert.equal(waiterStatusOf("12"), null, "not complete yet");
    assert.equal(waiterStatusOf("0\n"), 0);
    assert.equal(waiterStatusOf("130\n"), 130);
    assert.equal(waiterStatusOf("256\n"), KILLED_STATUS);
    assert.equal(waiterStatusOf("x\n"), KILLED_STATUS);
    assert.equal(waiterStatusOf("1".repeat(16)), KILLED_STATUS, "a line past the bound");
  });
});

describe("sessionRecordOf", () => {
  it("reads what runc-exec writes, and refuses anything that could make the sweep kill by mistake", () => {
    const ok = { pidNs: "pid:[4026532281]", pipeInodes: [101, 102, 103] };
    assert.deepEqual(sessionRecordOf(JSON.stringify(ok)), ok);
    assert.equal(sessionRecordOf("{"), null);
    assert.equal(sessionRecordOf(JSON.stringify({ ...ok, pidNs: "pid:[1] x" })), null);
    assert.equal(sessionRecordOf(JSON.stringify({ ...ok, pipeInodes: [101, 102] })), null);
    assert.equal(sessionRecordOf(JSON.stringify({ ...ok, pipeInodes: [101, 102, -1] })), null);
    assert.equal(sessionRecordOf(JSON.stringify({ ...ok, pipeInodes: [101, 102, "103"] })), null);
  });
});
