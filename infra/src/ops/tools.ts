import { spawnSync, type SpawnSyncReturns } from "node:child_process";

/**
 * What the deploy/diff/outputs scripts need from the machine, checked up front so a missing tool
 * or credential is one clear line instead of a Terraform stack trace halfway through.
 */
export class PreflightError extends Error {
  override readonly name = "PreflightError";
}

export type Run = (cmd: string, args: readonly string[], opts?: { env?: NodeJS.ProcessEnv; capture?: boolean }) => SpawnSyncReturns<string>;

export const defaultRun: Run = (cmd, args, opts = {}) =>
  spawnSync(cmd, [...args], { encoding: "utf8", env: opts.env ?? process.env, stdio: opts.capture ? ["ignore", "pipe", "pipe"] : "inherit" });

export function requireTool(run: Run, tool: string, hint: string): void {
  const r = run(tool, ["version"], { capture: true });
  if (r.error || r.status !== 0) throw new PreflightError(`${tool} not found or not working: ${hint}`);
}

/** AWS stacks need credentials; local stacks do not. The SDK chain is too big a dependency here. */
export function requireAwsCredentials(env: NodeJS.ProcessEnv): void {
  const has = env["AWS_ACCESS_KEY_ID"] || env["AWS_PROFILE"] || env["AWS_WEB_IDENTITY_TOKEN_FILE"] || env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] || env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"];
  if (!has) throw new PreflightError("no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_PROFILE or an OIDC web identity); aws-* stacks need them");
}

export function cdktfEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...env, CHECKPOINT_DISABLE: "1" };
}

export function preflight(run: Run, stacks: readonly string[], env: NodeJS.ProcessEnv): void {
  if (stacks.length === 0) throw new PreflightError("name at least one stack (e.g. aws-prod, local-dev)");
  requireTool(run, "terraform", "install Terraform >= 1.10 (S3 lockfile locking) and put it on PATH");
  if (stacks.some((s) => s.startsWith("aws-"))) requireAwsCredentials(env);
}
