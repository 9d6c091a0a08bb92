import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile, access } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setSshdDrainMark, type DrainMarkDeps } from "../../agent/src/adapters/sshd/drain-mark.js";
import { layoutFor } from "../../agent/src/core/host/layout.js";

/** sshd -t answers `ok`; SIGHUPs are recorded. */
function deps(ok: boolean, hups: number[]): DrainMarkDeps {
  return {
    run: async () => ({ code: ok ? 0 : 255, stdout: "", stderr: ok ? "" : "Bad configuration option", signal: null, timedOut: false }) as never,
    reload: { run: async () => ({ code: 1, stdout: "", stderr: "" }) as never, kill: (pid, sig) => void (sig === "SIGHUP" && hups.push(pid)), systemd: false, readText: async () => "4242\n", listening: async () => new Set(), sleep: async () => undefined },
  };
}

const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

describe("sshd drain mark", () => {
  it("writes the VersionAddendum drop-in, validates, reloads, and removes it again", async () => {
    const dir = await mkdtemp(join(tmpdir(), "podspawn-mark-"));
    try {
      const config = join(dir, "sshd_config");
      await writeFile(config, `Include ${dir}/sshd_config.d/*.conf\nPort 22\n`);
      await mkdir(join(dir, "sshd_config.d"));
      const hups: number[] = [];
      const layout = layoutFor("podspawn-x");
      const target = { configPath: config, pidFile: join(dir, "pid") };
      assert.match(await setSshdDrainMark(true, layout, target, deps(true, hups)), /^wrote .*40-podspawn-x-drain\.conf; reloaded sshd \(SIGHUP to pid 4242\)$/);
      assert.match(await readFile(join(dir, "sshd_config.d", "40-podspawn-x-drain.conf"), "utf8"), /^VersionAddendum podspawn-draining$/m);
      assert.equal(await setSshdDrainMark(true, layout, target, deps(true, hups)), "sshd already announces the drain");
      assert.deepEqual(hups, [4242], "no second reload for no change");
      await setSshdDrainMark(false, layout, target, deps(true, hups));
      assert.equal(await exists(join(dir, "sshd_config.d", "40-podspawn-x-drain.conf")), false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("puts the previous state back when sshd -t refuses, and refuses a config that does not include the drop-ins", async () => {
    const dir = await mkdtemp(join(tmpdir(), "podspawn-mark-"));
    try {
      const config = join(dir, "sshd_config");
      await writeFile(config, `Include ${dir}/sshd_config.d/*.conf\n`);
      await mkdir(join(dir, "sshd_config.d"));
      const hups: number[] = [];
      await assert.rejects(setSshdDrainMark(true, layoutFor("podspawn-x"), { configPath: config }, deps(false, hups)), /rejected .*; restored it: Bad configuration option/);
      assert.equal(await exists(join(dir, "sshd_config.d", "40-podspawn-x-drain.conf")), false);
      assert.deepEqual(hups, []);
      await writeFile(config, "Port 22\n");
      await assert.rejects(setSshdDrainMark(true, layoutFor("podspawn-x"), { configPath: config }, deps(true, hups)), /does not include .*; run 'podspawn server-setup' first/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
