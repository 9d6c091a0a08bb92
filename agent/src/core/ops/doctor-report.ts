import { textTable } from "./text-table.js";

/**
 * `podspawn doctor`: a list of checks, each `{ name, run(deps) -> { ok, detail, fix } }`, and the
 * report rendered from their results by the pure functions below. Checks live in admin/doctor.
 */

export interface CheckResult {
  readonly ok: boolean;
  /** What was found, in a few words (shown for passing checks too). */
  readonly detail: string;
  /** One line telling the admin what to do; only for a failing check. */
  readonly fix?: string;
}

export interface DoctorCheck<D> {
  readonly name: string;
  run(deps: D): Promise<CheckResult>;
}

export interface NamedResult extends CheckResult {
  readonly name: string;
}

export function passed(detail: string): CheckResult {
  return { ok: true, detail };
}

export function failed(detail: string, fix: string): CheckResult {
  return { ok: false, detail, fix };
}

/** Healthy only when every check passed. */
export function doctorExitCode(results: readonly NamedResult[]): number {
  return results.every((r) => r.ok) ? 0 : 1;
}

/** The table of checks, a count, then one `fix NAME: ...` line per failing check. */
export function renderDoctorReport(instance: string, results: readonly NamedResult[]): string {
  const table = textTable(results.map((r) => [r.ok ? "ok" : "FAIL", r.name, r.detail]));
  const failing = results.filter((r) => !r.ok);
  const summary = `${results.length - failing.length} passed, ${failing.length} failed`;
  const fixes = failing.map((r) => `fix ${r.name}: ${r.fix ?? "see the detail above"}\n`).join("");
  return `podspawn doctor (instance ${instance})\n${table}${summary}\n${fixes}`;
}

export function doctorJson(instance: string, results: readonly NamedResult[]): string {
  const checks = results.map((r) => ({ name: r.name, ok: r.ok, detail: r.detail, ...(r.ok ? {} : { fix: r.fix ?? null }) }));
  return JSON.stringify({ instance, ok: doctorExitCode(results) === 0, checks }, null, 2) + "\n";
}
