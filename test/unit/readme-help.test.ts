import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { main } from "../../agent/src/cli/main.js";
import { layoutFor } from "../../agent/src/core/host/layout.js";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

async function help(): Promise<string> {
  let out = "";
  const stdout = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  });
  const code = await main(["--help"], { stdout, stderr: stdout, env: {}, layout: layoutFor("podspawn") });
  assert.equal(code, 0);
  return out;
}

describe("README", () => {
  it("shows exactly the CLI's own --help output", async () => {
    const readme = await readFile(join(repo, "README.md"), "utf8");
    const block = /```text\n(podspawn: ephemeral SSH dev containers[\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(block, "README has a ```text block starting with the --help banner");
    assert.equal(block.trimEnd(), (await help()).trimEnd());
  });
});
