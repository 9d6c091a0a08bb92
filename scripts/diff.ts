/** `node dist/scripts/diff.js <stack...>`: cdktf diff, after preflight checks (used on PRs). */
import { $ } from "zx/core";
import { defaultRun, cdktfEnv, preflight, PreflightError } from "../infra/src/ops/tools.js";

const stacks = process.argv.slice(2);
try {
  preflight(defaultRun, stacks, process.env);
  let status = 0;
  for (const stack of stacks) {
    const r = await $({ stdio: "inherit", nothrow: true, env: cdktfEnv(process.env) })`npx cdktf diff ${stack}`;
    status = Math.max(status, r.exitCode ?? 1);
  }
  process.exitCode = status;
} catch (err) {
  if (!(err instanceof PreflightError)) throw err;
  process.stderr.write(`diff: ${err.message}\n`);
  process.exitCode = 2;
}
