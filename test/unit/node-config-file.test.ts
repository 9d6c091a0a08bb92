import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InputError } from "../../agent/src/core/errors.js";
import { DEFAULT_NODE_CONFIG } from "../../agent/src/core/config/node-config.js";
import { loadNodeConfig } from "../../agent/src/adapters/fs/node-config-file.js";

describe("loadNodeConfig (config.yaml on disk)", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "podspawn-config-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("is all defaults when the file does not exist", async () => {
    assert.deepEqual(await loadNodeConfig(join(dir, "missing.yaml")), DEFAULT_NODE_CONFIG);
  });

  it("reads the file, old key names included", async () => {
    const file = join(dir, "ok.yaml");
    await writeFile(file, "session:\n  grace_period: 5m\nruntime: runsc\n");
    const c = await loadNodeConfig(file);
    assert.equal(c.session.gracePeriodMs, 300_000);
    assert.equal(c.ociRuntime, "runsc");
  });

  it("names the file's path and the line of a bad value", async () => {
    const file = join(dir, "bad.yaml");
    await writeFile(file, "image: podspawn/x:1\nresources:\n  cpus: lots\n");
    await assert.rejects(loadNodeConfig(file), (err: unknown) => err instanceof InputError && err.field === `${file}:3: resources.cpus` && /expected a number, got "lots"/.test(err.message));
  });

  // /dev/zero never ends: reading it whole would fill memory; the cap stops after 64 KiB + 1.
  it("reads no more than the size cap, even from a file that never ends", async () => {
    await assert.rejects(loadNodeConfig("/dev/zero"), (err: unknown) => err instanceof InputError && err.field === "/dev/zero" && /more than 65536 bytes/.test(err.message));
  });

  it("lets other read errors through (a directory is not a config)", async () => {
    await assert.rejects(loadNodeConfig(dir), (err: unknown) => !(err instanceof InputError) && (err as NodeJS.ErrnoException).code === "EISDIR");
  });
});
