/**
 * `npm run synth`: synthesize every stack into cdktf.out/ offline (no provider download, no CLI),
 * by running the compiled app exactly as cdktf.json does, and report the time.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { $ } from "zx/core";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const started = process.hrtime.bigint();
const r = await $({
  cwd: root,
  stdio: "inherit",
  nothrow: true,
  env: { ...process.env, CHECKPOINT_DISABLE: "1", CDKTF_OUTDIR: join(root, "cdktf.out") },
})`${process.execPath} ${join(root, "dist", "infra", "src", "main.js")}`;
const ms = Number((process.hrtime.bigint() - started) / 1_000_000n);
if (r.exitCode === 0) {
  process.stderr.write(`synth: wrote ${join(root, "cdktf.out")} in ${ms} ms\n`);
} else {
  process.stderr.write(`synth: failed after ${ms} ms (exit ${r.exitCode ?? r.signal})\n`);
  process.exitCode = 1;
}
