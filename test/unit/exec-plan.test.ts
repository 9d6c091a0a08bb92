import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fc from "fast-check";
import { DEFAULT_SFTP_SUBSYSTEMS, planExec, wantsAgent, type ContainerAccount } from "../../agent/src/core/container/exec-plan.js";
import type { SessionRequest } from "../../agent/src/core/protocol/session-request.js";

const account: ContainerAccount = { name: "alice", uid: 1001, gid: 1002, home: "/home/alice", shell: "/bin/bash" };

function req(over: Partial<SessionRequest> = {}): SessionRequest {
  return { command: null, tty: false, cols: 0, rows: 0, term: null, env: {}, project: "default", keyFingerprint: null, agent: false, stdio: null, ...over };
}

function envMap(env: readonly string[]): Map<string, string> {
  return new Map(env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
}

describe("planExec", () => {
  describe("what runs", () => {
    it("runs the login shell with -l when there is no command", () => {
      const plan = planExec(req({ tty: true }), account);
      assert.equal(plan.kind, "shell");
      assert.deepEqual(plan.argv, ["/bin/bash", "-l"]);
    });

    it("runs a command as [shell, -c, command] exactly", () => {
      const plan = planExec(req({ command: "echo $HOME; ls" }), account);
      assert.equal(plan.kind, "command");
      assert.deepEqual(plan.argv, ["/bin/bash", "-c", "echo $HOME; ls"]);
    });

    it("keeps any command string as a single argv element and nowhere else", () => {
      fc.assert(
        fc.property(
          fc.string({ unit: "binary", maxLength: 200 }).filter((s) => !DEFAULT_SFTP_SUBSYSTEMS.includes(s.trim())),
          fc.constantFrom("/home/alice", "/home/x"),
          (command, home) => {
            const acct = { ...account, home };
            const plan = planExec(req({ command }), acct);
            assert.equal(plan.kind, "command");
            assert.deepEqual(plan.argv, [acct.shell, "-c", command]);
            assert.equal(plan.user, "1001:1002");
            assert.equal(plan.workdir, home);
            assert.deepEqual(plan.env, [`HOME=${home}`, "USER=alice", "LOGNAME=alice", "SHELL=/bin/bash", "PODSPAWN_PROJECT=default"]);
          },
        ),
      );
    });

    it("keeps the command a single argv element behind the tty size wrapper too", () => {
      fc.assert(
        fc.property(fc.string({ maxLength: 100 }).filter((s) => !DEFAULT_SFTP_SUBSYSTEMS.includes(s.trim())), (command) => {
          const plan = planExec(req({ command, tty: true, cols: 80, rows: 24 }), account);
          assert.deepEqual(plan.argv.slice(-3), ["/bin/bash", "-c", command]);
          assert.deepEqual(plan.argv.slice(3, -3), ["podspawn-tty", "24", "80"]);
          // The wrapper script is fixed text: the command never changes it.
          assert.equal(plan.argv[2], planExec(req({ command: "x", tty: true, cols: 80, rows: 24 }), account).argv[2]);
        }),
      );
    });

    for (const sub of ["internal-sftp", "/usr/lib/openssh/sftp-server"]) {
      it(`runs sftp for the subsystem string ${sub} without a tty even if one was asked`, () => {
        const plan = planExec(req({ command: sub, tty: true, cols: 80, rows: 24 }), account);
        assert.equal(plan.kind, "sftp");
        assert.equal(plan.tty, false);
        assert.equal(plan.argv[0], "/bin/sh");
        assert.equal(plan.argv[1], "-c");
        assert.equal(plan.argv.length, 3);
        assert.ok(!plan.argv.includes("podspawn-tty"));
      });
    }

    it("recognises a subsystem string with surrounding whitespace", () => {
      assert.equal(planExec(req({ command: " internal-sftp\n" }), account).kind, "sftp");
    });

    it("uses the configured subsystem list instead of the default", () => {
      assert.equal(planExec(req({ command: "internal-sftp" }), account, ["/opt/sftp"]).kind, "command");
      assert.equal(planExec(req({ command: "/opt/sftp" }), account, ["/opt/sftp"]).kind, "sftp");
    });

    it("runs the sftp script that execs an sftp-server and fails with 127 when none exists", () => {
      const plan = planExec(req({ command: "internal-sftp" }), account);
      const script = plan.argv[2] ?? "";
      assert.match(script, /exec "\$p"/);
      assert.match(script, /exit 127/);
      assert.ok(!script.includes("internal-sftp"));
    });

    for (const command of ["scp -t /tmp", "scp -f /etc/hostname", "rsync --server -vlogDtpre.iLsfxC . /tmp", "git-upload-pack 'x'", "internal-sftp -l INFO"]) {
      it(`runs ${JSON.stringify(command)} as a plain command`, () => {
        const plan = planExec(req({ command }), account);
        assert.equal(plan.kind, "command");
        assert.deepEqual(plan.argv, ["/bin/bash", "-c", command]);
        assert.equal(plan.tty, false);
      });
    }
  });

  describe("PTY", () => {
    it("gives no tty to a shell the client did not ask a tty for", () => {
      const plan = planExec(req({ command: null, tty: false }), account);
      assert.equal(plan.kind, "shell");
      assert.equal(plan.tty, false);
      assert.deepEqual(plan.argv, ["/bin/bash", "-l"]);
    });

    it("gives a tty to a command when the client asked for one", () => {
      assert.equal(planExec(req({ command: "top", tty: true }), account).tty, true);
    });

    it("gives no tty to a command when the client did not ask", () => {
      assert.equal(planExec(req({ command: "top", tty: false }), account).tty, false);
    });

    it("follows the client's tty flag for every kind of non-sftp request", () => {
      fc.assert(
        fc.property(fc.option(fc.string({ maxLength: 30 }).filter((s) => !DEFAULT_SFTP_SUBSYSTEMS.includes(s.trim()))), fc.boolean(), (command, tty) => {
          assert.equal(planExec(req({ command, tty }), account).tty, tty);
        }),
      );
    });

    it("wraps a tty session with the stty script taking rows then cols", () => {
      const plan = planExec(req({ tty: true, cols: 132, rows: 43 }), account);
      assert.equal(plan.argv[0], "/bin/sh");
      assert.equal(plan.argv[1], "-c");
      assert.match(plan.argv[2] ?? "", /stty rows "\$1" cols "\$2"/);
      assert.deepEqual(plan.argv.slice(3), ["podspawn-tty", "43", "132", "/bin/bash", "-l"]);
    });

    it("does not wrap when the tty size is unknown", () => {
      assert.deepEqual(planExec(req({ tty: true, cols: 0, rows: 24 }), account).argv, ["/bin/bash", "-l"]);
      assert.deepEqual(planExec(req({ tty: true, cols: 80, rows: 0 }), account).argv, ["/bin/bash", "-l"]);
    });

    it("does not wrap when no tty was asked even if a size is known", () => {
      assert.deepEqual(planExec(req({ command: "ls", cols: 80, rows: 24 }), account).argv, ["/bin/bash", "-c", "ls"]);
    });

    it("the stty wrapper passes the user's argv through unchanged when run by a real sh", () => {
      const plan = planExec(req({ command: "printf '%s|' \"$0\" a'b' \"c d\"", tty: true, cols: 80, rows: 24 }), {
        ...account,
        shell: "/bin/sh",
      });
      const [file, ...args] = plan.argv;
      // No tty here, so stty fails silently (2>/dev/null) and the script must still exec the user's argv.
      const out = execFileSync(file ?? "", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      assert.equal(out, "/bin/sh|ab|c d|");
    });
  });

  describe("environment and identity", () => {
    it("sets HOME, USER, LOGNAME, SHELL and PODSPAWN_PROJECT from the account and project", () => {
      const env = envMap(planExec(req({ project: "web" }), account).env);
      assert.equal(env.get("HOME"), "/home/alice");
      assert.equal(env.get("USER"), "alice");
      assert.equal(env.get("LOGNAME"), "alice");
      assert.equal(env.get("SHELL"), "/bin/bash");
      assert.equal(env.get("PODSPAWN_PROJECT"), "web");
    });

    it("sets no TERM without a tty or a client TERM", () => {
      const env = envMap(planExec(req({ command: "ls" }), account).env);
      assert.equal(env.has("TERM"), false);
    });

    it("defaults TERM to xterm-256color for a tty without a client TERM", () => {
      assert.equal(envMap(planExec(req({ tty: true }), account).env).get("TERM"), "xterm-256color");
    });

    it("uses the client's TERM with a tty", () => {
      assert.equal(envMap(planExec(req({ tty: true, term: "screen" }), account).env).get("TERM"), "screen");
    });

    it("passes the client's TERM through without a tty", () => {
      assert.equal(envMap(planExec(req({ command: "ls", term: "vt100" }), account).env).get("TERM"), "vt100");
    });

    it("appends the allowed locale env after the fixed variables", () => {
      const env = planExec(req({ env: { LANG: "C.UTF-8", LC_TIME: "C" } }), account).env;
      assert.deepEqual(env.slice(-2), ["LANG=C.UTF-8", "LC_TIME=C"]);
      assert.equal(env.filter((e) => e.startsWith("TERM=")).length, 0);
    });

    it("runs as uid:gid of the account", () => {
      assert.equal(planExec(req(), account).user, "1001:1002");
    });

    it("starts in the account's home", () => {
      assert.equal(planExec(req({ command: "pwd" }), { ...account, home: "/srv/home/alice" }).workdir, "/srv/home/alice");
    });

    it("uses the account's shell for commands", () => {
      assert.deepEqual(planExec(req({ command: "id" }), { ...account, shell: "/bin/sh" }).argv, ["/bin/sh", "-c", "id"]);
    });
  });
});

describe("planExec and the forwarded agent", () => {
  it("sets SSH_AUTH_SOCK to the daemon's socket path for a command or a shell, never for sftp", () => {
    assert.ok(planExec(req({ command: "ssh-add -l", agent: true }), account, undefined, "/run/podspawn/agent/s1-00000000.sock").env.includes("SSH_AUTH_SOCK=/run/podspawn/agent/s1-00000000.sock"));
    assert.ok(planExec(req({ agent: true }), account, undefined, "/run/podspawn/agent/s1-00000000.sock").env.includes("SSH_AUTH_SOCK=/run/podspawn/agent/s1-00000000.sock"));
    assert.equal(planExec(req({ command: "internal-sftp", agent: true }), account, undefined, "/x.sock").env.some((e) => e.startsWith("SSH_AUTH_SOCK")), false);
    assert.equal(planExec(req({ command: "ls" }), account).env.some((e) => e.startsWith("SSH_AUTH_SOCK")), false);
  });

  it("wants the agent only when the client forwarded one and the session runs a program", () => {
    assert.equal(wantsAgent(req({ agent: true, command: "git fetch" })), true);
    assert.equal(wantsAgent(req({ agent: true })), true);
    assert.equal(wantsAgent(req({ agent: true, command: "internal-sftp" })), false);
    assert.equal(wantsAgent(req({ agent: false, command: "git fetch" })), false);
  });
});
