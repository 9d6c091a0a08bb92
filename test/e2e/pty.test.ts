import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { eventually, startNode, type NodeHandle } from "./harness.js";

/**
 * Interactive sessions through a real terminal: tmux runs the real ssh client, we type with
 * send-keys and read the screen with capture-pane.
 */
const USER = "e2e-tty";
const TMUX = ["-L", "podspawn-e2e", "-f", "/dev/null"];
let node: NodeHandle;

const tmux = (...args: string[]): string => execFileSync("tmux", [...TMUX, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
const screen = (): string => tmux("capture-pane", "-p", "-t", "pty");
const type = (text: string): void => {
  tmux("send-keys", "-t", "pty", "-l", text);
  tmux("send-keys", "-t", "pty", "Enter");
};
const waitFor = async (re: RegExp, ms = 15_000): Promise<void> => {
  const ok = await eventually(() => re.test(screen()), ms, 100);
  assert.ok(ok, `screen never matched ${re}:\n${screen()}`);
};

before(async () => {
  node = await startNode([USER]);
  const ssh = ["ssh", "-tt", ...node.sshArgs(USER), `${USER}@127.0.0.1`].map((a) => `'${a}'`).join(" ");
  tmux("new-session", "-d", "-s", "pty", "-x", "100", "-y", "30", ssh);
  tmux("set-option", "-t", "pty", "status", "off");
});

after(async () => {
  try {
    tmux("kill-server");
  } catch {
    /* already gone */
  }
  await node?.stop();
});

describe("interactive PTY session", () => {
  it("tells the user on the terminal that their environment is starting (first login)", async () => {
    await waitFor(/^podspawn: starting your default environment\.\.\.$/m);
  });

  it("starts a login shell whose terminal has the client's size", async () => {
    await waitFor(/\$\s*$/m);
    type("stty size; echo TERM=$TERM");
    await waitFor(/^30 100$/m);
    await waitFor(/TERM=\S+/);
  });

  it("sees a window resize inside the container", async () => {
    tmux("resize-window", "-t", "pty", "-x", "120", "-y", "40");
    await new Promise((r) => setTimeout(r, 300));
    type("clear; stty size");
    await waitFor(/^40 120$/m);
  });

  it("interrupts a running command with Ctrl-C and returns to the prompt", async () => {
    type("clear; sleep 100; echo not-interrupted");
    await new Promise((r) => setTimeout(r, 700));
    tmux("send-keys", "-t", "pty", "C-c");
    type("echo after-interrupt");
    await waitFor(/^after-interrupt$/m, 5000);
    assert.doesNotMatch(screen(), /not-interrupted/);
  });

  it("ends the ssh session when the shell exits", async () => {
    type("exit 7");
    const ended = await eventually(() => {
      try {
        tmux("has-session", "-t", "pty");
        return false;
      } catch {
        return true;
      }
    }, 10_000);
    assert.ok(ended, "tmux pane (the ssh client) exited");
  });
});
