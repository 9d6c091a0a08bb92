import { UserFacingError } from "../core/errors.js";
import { refusingAdvisories, RUNC_ADVISORIES, runcExposure, type RuncAdvisory } from "../core/host/runc-advisories.js";
import type { RuncFacts } from "../adapters/process/runc-probe.js";

export const RUNC_REFUSAL = "this node's container runtime has a known container escape, so it refuses sessions until the node's admin upgrades runc (the daemon log names the advisories)";
export const RUNC_PROJECT_REFUSAL = "this node's container runtime has a known escape through images, so it runs only its default environment until the node's admin upgrades runc (the daemon log names the advisories)";

/**
 * Sessions only on a runc without an open escape (core/host/runc-advisories.ts). Checked at start
 * and on every reload (an upgraded package is picked up without a restart); between checks the
 * answer stands, so a session pays nothing.
 *
 * On a gVisor node (`oci_runtime: runsc`) every session's container, pooled or not, and every
 * companion service is started and exec'd by runsc, so runc's escapes are not a session's to use:
 * sessions run. Image builds still run their steps on runc (Docker's builder takes the engine's
 * default runtime), so project environments stay refused as on a runc node.
 */
export class RuncGate {
  /** Until a check has read runc, and whenever one cannot: every advisory counts (fail closed). */
  private refusing: readonly RuncAdvisory[] = RUNC_ADVISORIES;
  private version = "unknown";
  private problem: string | null = "runc not checked yet";

  constructor(
    private readonly opts: {
      readonly probe: () => Promise<RuncFacts>;
      readonly accepted: () => readonly string[];
      /** The runtime the node's session containers run on (config.yaml `oci_runtime`). */
      readonly sessionRuntime: () => "runc" | "runsc";
    },
  ) {}

  /** Re-read runc; null when sessions may run, else why not (for the daemon log). */
  async check(): Promise<string | null> {
    try {
      const facts = await this.opts.probe();
      const exposure = runcExposure(facts.versionOutput, facts.changelog);
      this.version = exposure.version;
      this.refusing = refusingAdvisories(exposure, this.opts.accepted());
      this.problem = this.refusing.length === 0 ? null : `runc ${this.version} has ${this.refusing.map((a) => `${a.id} (${a.summary})`).join(", ")}; upgrade runc, or accept them by id in engine.accept_runc_advisories`;
    } catch (err) {
      this.refusing = RUNC_ADVISORIES;
      this.problem = `runc could not be checked: ${String(err)}`;
    }
    return this.problem;
  }

  /**
   * For each session (`session`) and each project environment or Podfile build (`project`):
   * throws the refusal while the last check found an open escape of that reach, or could not check.
   */
  require(what: "session" | "project"): void {
    if (what === "session" && this.opts.sessionRuntime() === "runsc") return;
    if (!this.refusing.some((a) => what === "project" || a.vector === "session")) return;
    throw new UserFacingError("runc-vulnerable", what === "session" ? RUNC_REFUSAL : RUNC_PROJECT_REFUSAL, this.problem ?? "");
  }

  status(): { readonly version: string; readonly refusing: readonly string[]; readonly problem: string | null } {
    return { version: this.version, refusing: this.refusing.map((a) => a.id), problem: this.problem };
  }
}
