/**
 * `node dist/scripts/outputs-to-manifest.js <stack> [outputs.json] [manifest.json]`: writes the fleet
 * manifest clients fetch from the deploy's outputs file (default cdktf.out/outputs.json).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { InputError } from "../agent/src/core/errors.js";
import { manifestFromOutputs } from "../infra/src/ops/outputs-to-manifest.js";

const [stack, input = "cdktf.out/outputs.json", output = "fleet-manifest.json"] = process.argv.slice(2);
try {
  if (!stack) throw new InputError("stack", "missing", "usage: outputs-to-manifest <stack> [outputs.json] [manifest.json]");
  let text: string;
  try {
    text = readFileSync(input, "utf8");
  } catch {
    throw new InputError("outputs file", `${input} not found: run deploy first (it writes --outputs-file ${input})`);
  }
  writeFileSync(output, manifestFromOutputs(text, stack));
  process.stderr.write(`outputs-to-manifest: wrote ${output}\n`);
} catch (err) {
  if (!(err instanceof InputError)) throw err;
  process.stderr.write(`outputs-to-manifest: ${err.message}\n`);
  process.exitCode = 2;
}
