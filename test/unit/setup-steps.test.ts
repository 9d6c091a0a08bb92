import { describe, it, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_NODE_CONFIG } from "../../agent/src/core/config/node-config.js";
import type { ContainerAccount } from "../../agent/src/core/container/exec-plan.js";
import { createSteps, planEnvironment, startSteps, withSessionSettings, type EnvironmentPlan } from "../../agent/src/core/podfile/index.js";
import { setupFailureMessage } from "../../agent/src/core/podfile/setup-messages.js";
import type { ContainerRuntime, ExecSession } from "../../agent/src/core/ports/container-runtime.js";
import { DISCARD_OUTPUT, KILL_GRACE_MS, runSteps } from "../../agent/src/daemon/environments/setup-runner.js";
import { TailLines } from "../../agent/src/support/tail-lines.js";
import { CAPS, resolveText } from "./helpers/podfile.js";

const ACCOUNT: ContainerAccount = { name: "alice", uid: 1000, gid: 1000, home: "/home/alice", shell: "/bin/bash" };

async function planOf(text: string): Promise<EnvironmentPlan> {
  return planEnvironment((await resolveText(text)).podfile, { instance: "pst", user: "alice", project: "web", nodeConfig: DEFAULT_NODE_CONFIG, caps: CAPS });
}

const FULL = `base: x
workspace: src
env: {EDITOR: vim, WHO: "\${PODSPAWN_USER}@\${PODSPAWN_PROJECT}"}
dotfiles: {repo: "https://git.example/dots.git", install: ./install.sh}
repos:
  - {url: "https://git.example/app.git", branch: dev}
  - {url: "git@git.example:team/lib.git", path: vendor/lib}
on_create: [make deps, make seed]
on_start: echo hi
`;

describe("setup steps", () => {
  it("runs, in order: the workdir, the dotfiles clone and install, each repo clone, then on_create", async () => {
    const steps = createSteps(await planOf(FULL), ACCOUNT);
    assert.deepEqual(
      steps.map((s) => [s.label, s.exec.workdir]),
      [
        ["making the workdir", "/home/alice"],
        ["cloning dotfiles", "/home/alice"],
        ["dotfiles install", "/home/alice/dotfiles"],
        ["cloning src/app", "/home/alice"],
        ["cloning src/vendor/lib", "/home/alice"],
        ["on_create (1/2)", "/home/alice/src"],
        ["on_create (2/2)", "/home/alice/src"],
      ],
    );
    assert.ok(steps.every((s) => s.exec.user === "1000:1000" && s.exec.tty === false));
  });

  describe("the project's repository (mount: copy)", () => {
    const COMMIT = "0123456789abcdef0123456789abcdef01234567";
    const copyPlan = (text: string, branch: string | null = null) => resolveText(text).then((r) => planEnvironment(r.podfile, { instance: "pst", user: "alice", project: "web", nodeConfig: DEFAULT_NODE_CONFIG, caps: CAPS, repository: { url: "git://git.example/web.git", branch, commit: COMMIT } }));

    it("is cloned first (it makes the workdir), before dotfiles, repos and on_create, which run in it", async () => {
      const steps = createSteps(await copyPlan("base: x\nmount: copy\ndotfiles: {repo: 'https://git.example/dots.git'}\nrepos: [{url: 'https://git.example/lib.git'}]\non_create: make\n"), ACCOUNT);
      assert.deepEqual(
        steps.map((s) => [s.label, s.exec.workdir]),
        [
          ["cloning the project into ~/web (default branch at 0123456789ab)", "/home/alice"],
          ["cloning dotfiles", "/home/alice"],
          ["cloning web/lib", "/home/alice"],
          ["on_create", "/home/alice/web"],
        ],
      );
    });

    it("hands the URL, path, commit and branch to git as argv elements, never inside the script", async () => {
      const [clone] = createSteps(await copyPlan("base: x\nmount: copy\nworkspace: src\n", "dev"), ACCOUNT);
      assert.deepEqual(clone?.exec.argv.slice(3), ["podspawn-setup", "git://git.example/web.git", "/home/alice/src", COMMIT, "dev"]);
      const script = clone?.exec.argv[2] ?? "";
      assert.ok(!script.includes("git.example") && !script.includes(COMMIT) && !script.includes("src"));
      assert.match(script, /git clone --quiet --branch "\$4" -- "\$1" "\$2"/);
      assert.match(script, /reset --quiet --hard "\$3"/);
      assert.equal(clone?.exec.user, "1000:1000");
      const [onDefault] = createSteps(await copyPlan("base: x\nmount: copy\n"), ACCOUNT);
      assert.deepEqual(onDefault?.exec.argv.slice(4), ["git://git.example/web.git", "/home/alice/web", COMMIT]);
    });
  });

  it("hands URLs, paths and branches to git as argv elements, never inside the script", async () => {
    const steps = createSteps(await planOf(FULL), ACCOUNT);
    const app = steps.find((s) => s.label === "cloning src/app");
    assert.ok(app);
    assert.deepEqual(app.exec.argv.slice(3), ["podspawn-setup", "https://git.example/app.git", "/home/alice/src/app", "dev"]);
    assert.ok(!app.exec.argv[2]?.includes("git.example"));
    assert.match(app.exec.argv[2] ?? "", /git clone --quiet --branch "\$3" -- "\$1" "\$2"/);
    const lib = steps.find((s) => s.label === "cloning src/vendor/lib");
    assert.deepEqual(lib?.exec.argv.slice(4), ["git@git.example:team/lib.git", "/home/alice/src/vendor/lib"]);
  });

  it("leaves a dotfiles or repo clone that a persistent home kept from an earlier container as it is (the scripts, run by sh with git)", async (t: TestContext) => {
    const dir = mkdtempSync(join(tmpdir(), "setup-clone-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const git = (...args: string[]) => execFileSync("git", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, GIT_CONFIG_GLOBAL: "/dev/null", GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" } });
    git("init", "--quiet", "-b", "dev", "origin");
    writeFileSync(join(dir, "origin", "f"), "one\n");
    git("-C", "origin", "add", "f");
    git("-C", "origin", "commit", "--quiet", "-m", "one");
    const steps = createSteps(await planOf(FULL), ACCOUNT);
    for (const label of ["cloning dotfiles", "cloning src/app"]) {
      const argv = steps.find((s) => s.label === label)?.exec.argv ?? [];
      const run = () => spawnSync("sh", ["-c", argv[2] ?? "", "podspawn-setup", join(dir, "origin"), join(dir, "home", label), ...argv.slice(6)], { encoding: "utf8" });
      assert.equal(run().status, 0, `${label}: the first clone`);
      writeFileSync(join(dir, "home", label, "f"), "the user's own change\n");
      const again = run();
      assert.equal(again.status, 0, `${label}: a second create succeeds: ${again.stderr}`);
      assert.match(again.stderr, /is a clone from an earlier container; left as it is/);
      assert.equal(readFileSync(join(dir, "home", label, "f"), "utf8"), "the user's own change\n", "and the user's work is untouched");
    }
  });

  it("gives every step the account's identity and the Podfile's env expanded; a plan cannot move HOME (the schema refuses it too)", async () => {
    const plan = await planOf(FULL);
    const [step] = createSteps({ ...plan, session: { ...plan.session, env: [...plan.session.env, "HOME=/tmp/evil"] } }, ACCOUNT);
    assert.ok(step);
    assert.ok(step.exec.env.includes("HOME=/home/alice"));
    assert.ok(!step.exec.env.includes("HOME=/tmp/evil"));
    assert.ok(step.exec.env.includes("WHO=alice@web") && step.exec.env.includes("EDITOR=vim") && step.exec.env.includes("PODSPAWN_USER=alice"));
  });

  it("runs on_start in the workdir before every session, and nothing without hooks", async () => {
    const steps = startSteps(await planOf(FULL), ACCOUNT);
    assert.deepEqual(steps.map((s) => [s.label, s.exec.argv, s.exec.workdir]), [["on_start", ["/bin/bash", "-c", "echo hi"], "/home/alice/src"]]);
    assert.deepEqual(createSteps(await planOf("base: x\n"), ACCOUNT), []);
  });

  it("gives a session the Podfile's env and workdir; what the session set itself (TERM, the client's variables) wins", async () => {
    const plan = await planOf(FULL);
    const exec = withSessionSettings({ kind: "shell", argv: ["/bin/bash", "-l"], tty: true, env: ["HOME=/home/alice", "TERM=xterm", "EDITOR=nano", "PODSPAWN_PROJECT=web"], user: "1000:1000", workdir: "/home/alice" }, ACCOUNT, plan.session);
    assert.equal(exec.workdir, "/home/alice/src");
    assert.deepEqual(exec.env.filter((e) => e.startsWith("EDITOR=") || e.startsWith("TERM=") || e.startsWith("HOME=") || e.startsWith("WHO=")), ["WHO=alice@web", "HOME=/home/alice", "TERM=xterm", "EDITOR=nano"]);
    assert.equal(exec.env.filter((e) => e.startsWith("PODSPAWN_PROJECT=")).length, 1);
  });
});

describe("setup failure messages and the tail", () => {
  it("says what failed, its last five non-blank lines, made printable, and whether the container stays", () => {
    const tail = ["a", "", "b", "c", "d", "e", "f\u001b[31m"];
    assert.equal(setupFailureMessage("web", "on_start", { kind: "exit", code: 2 }, tail, true), "setting up environment web: on_start failed (exit status 2)\n  b\n  c\n  d\n  e\n  f?[31m\n  (your environment is kept; this step runs again at your next login)");
    assert.equal(setupFailureMessage("web", "cloning dotfiles", { kind: "timeout", timeoutMs: 300_000 }, [], false).split("\n")[0], "setting up environment web: cloning dotfiles did not finish within 5m");
  });

  it("keeps a bounded tail however much is written", () => {
    const t = new TailLines(3, 10);
    for (let i = 0; i < 1000; i++) t.push(`line ${i} ${"x".repeat(50)}\n`);
    t.push("partial");
    assert.deepEqual(t.value, ["line 998 x", "line 999 x", "partial"]);
  });
});

describe("running setup steps", () => {
  /** An exec that never ends by itself; SIGKILL ends it (or not, with `stubborn`). */
  function hangingRuntime(stubborn: boolean): { runtime: ContainerRuntime; signals: string[] } {
    const signals: string[] = [];
    const runtime = {
      exec: async (): Promise<ExecSession> => {
        const stdout = new PassThrough();
        const stderr = new PassThrough();
        let resolveExit: (n: number) => void = () => undefined;
        const exited = new Promise<number>((r) => (resolveExit = r));
        stdout.write("working\n");
        return {
          stdin: new PassThrough(),
          stdout,
          stderr,
          exited,
          resize: async () => undefined,
          signal: async (sig) => {
            signals.push(sig);
            if (stubborn) return;
            stdout.end();
            stderr.end();
            resolveExit(137);
          },
        };
      },
    } as unknown as ContainerRuntime;
    return { runtime, signals };
  }

  it("kills a step at its timeout and fails with the timeout and its last lines", async (t: TestContext) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { runtime, signals } = hangingRuntime(false);
    const steps = [{ label: "on_create", timeoutMs: 1000, exec: { kind: "command" as const, argv: ["/bin/sh", "-c", "sleep 9"], tty: false, env: [], user: "1:1", workdir: "/" } }];
    const run = runSteps(steps, { runtime, containerId: "c1", environment: "web", output: DISCARD_OUTPUT, keptOnFailure: false }).then(
      () => null,
      (e: unknown) => e,
    );
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.deepEqual(signals, []);
    t.mock.timers.tick(1000);
    const err = await run;
    assert.deepEqual(signals, ["SIGKILL"]);
    assert.equal((err as { code?: string }).code, "setup-failed");
    assert.match((err as Error).message, /^setting up environment web: on_create did not finish within 1s\n {2}working\n/);
  });

  it("does not wait for ever on a step whose output stays open after the kill", async (t: TestContext) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { runtime } = hangingRuntime(true);
    const steps = [{ label: "on_start", timeoutMs: 1000, exec: { kind: "command" as const, argv: ["/bin/sh", "-c", "x"], tty: false, env: [], user: "1:1", workdir: "/" } }];
    let settled = false;
    const run = runSteps(steps, { runtime, containerId: "c1", environment: "web", output: DISCARD_OUTPUT, keptOnFailure: true }).catch((e: unknown) => ((settled = true), e));
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    t.mock.timers.tick(1000);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.equal(settled, false);
    t.mock.timers.tick(KILL_GRACE_MS);
    assert.equal(((await run) as { code?: string }).code, "setup-failed");
  });
});
