/**
 * `npm run synth`: synthesize every stack into cdktf.out/ offline (no provider download, no CLI),
 * by running the compiled app exactly as cdktf.json does, and report the time.
 */
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const started = process.hrtime.bigint();
const r = spawnSync(process.execPath, [join(root, "dist", "infra", "src", "main.js")], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, CHECKPOINT_DISABLE: "1", CDKTF_OUTDIR: join(root, "cdktf.out") },
});
const ms = Number((process.hrtime.bigint() - started) / 1_000_000n);
if (r.status === 0) {
  process.stderr.write(`synth: wrote ${join(root, "cdktf.out")} in ${ms} ms\n`);
} else {
  process.stderr.write(`synth: failed after ${ms} ms (exit ${r.status ?? r.signal})\n`);
  process.exitCode = 1;
}
