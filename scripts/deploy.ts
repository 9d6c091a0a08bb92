/** `node dist/scripts/deploy.js <stack...>`: cdktf deploy --auto-approve, after preflight checks. */
import { $ } from "zx/core";
import { defaultRun, cdktfEnv, preflight, PreflightError } from "../infra/src/ops/tools.js";

const stacks = process.argv.slice(2);
try {
  preflight(defaultRun, stacks, process.env);
  const r = await $({ stdio: "inherit", nothrow: true, env: cdktfEnv(process.env) })`npx cdktf deploy --auto-approve --outputs-file cdktf.out/outputs.json ${stacks}`;
  process.exitCode = r.exitCode ?? 1;
} catch (err) {
  if (!(err instanceof PreflightError)) throw err;
  process.stderr.write(`deploy: ${err.message}\n`);
  process.exitCode = 2;
}
