import { UserFacingError } from "../../core/errors.js";
import type { FirewallRule } from "../../core/net/egress-rules.js";
import { describeExit, processMessage, runProcess, type RunProcess } from "../process/run-process.js";

/** `-w` waits for the xtables lock; bounded so a wedged iptables cannot hold a login for long. */
const IPTABLES_WAIT_S = 5;
/** A check that found every rule in place is believed this long (else one check per login). */
const TRUST_MS = 10_000;

export const EGRESS_REFUSAL =
  "this node cannot keep containers away from the cloud metadata service and the host right now, so it refuses sessions (the node's admin can see why in the daemon log)";

export interface EgressFirewallOptions {
  readonly rules: () => readonly FirewallRule[];
  readonly iptables?: string;
  readonly run?: RunProcess;
  readonly now?: () => number;
}

/**
 * The rules that keep pod containers off the metadata service and the host's own services. They
 * are a precondition of every session, not a best effort: `require()` refuses the session when
 * they cannot be put in place (no iptables, no permission, the xtables lock wedged). Docker
 * recreates DOCKER-USER when it restarts, so the daemon re-asserts them on every reload too.
 */
export class EgressFirewall {
  private trustedUntil = -Infinity;

  constructor(private readonly opts: EgressFirewallOptions) {}

  /** Installs what is missing; null when every rule is in place, else what went wrong. */
  async ensure(): Promise<string | null> {
    const problem = await this.install().catch((err: unknown) => String(err));
    this.trustedUntil = problem === null ? this.now() + TRUST_MS : -Infinity;
    return problem;
  }

  /** For each session: resolves when the rules are known to be in place, else the refusal. */
  async require(): Promise<void> {
    if (this.now() < this.trustedUntil) return;
    const problem = await this.ensure();
    if (problem !== null) throw new UserFacingError("egress-firewall", EGRESS_REFUSAL, problem);
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  private async iptables(action: "-C" | "-I" | "-D", rule: FirewallRule): Promise<string | null> {
    // The table goes last (iptables reads options in any order), so action and chain keep their places.
    const args = ["-w", String(IPTABLES_WAIT_S), action, rule.chain, ...rule.spec, ...(rule.table ? ["-t", rule.table] : [])];
    const timeoutMs = (IPTABLES_WAIT_S + 1) * 1000;
    const r = await (this.opts.run ?? runProcess)(this.opts.iptables ?? "iptables", args, { timeoutMs });
    return r.code === 0 ? null : `iptables ${args.join(" ")}: ${describeExit(r, timeoutMs)}: ${processMessage(r)}`;
  }

  /**
   * Rules go in at the top of their chain. Only the RETURNs (resolvers through a private-range
   * block) depend on order: whenever anything was missing they are put back on top, last.
   */
  private async install(): Promise<string | null> {
    const rules = this.opts.rules();
    const returns = rules.filter((r) => r.spec.at(-1) === "RETURN");
    let changed = false;
    for (const rule of rules.filter((r) => !returns.includes(r))) {
      if ((await this.iptables("-C", rule)) === null) continue;
      const failed = await this.iptables("-I", rule);
      if (failed !== null) return failed;
      changed = true;
    }
    for (const rule of returns) if ((await this.iptables("-C", rule)) !== null) changed = true;
    if (!changed) return null;
    // Delete every copy (a hand-added duplicate too), bounded in case iptables answers oddly.
    for (const rule of returns) for (let i = 0; i < 8 && (await this.iptables("-D", rule)) === null; i++);
    for (const rule of [...returns].reverse()) {
      const failed = await this.iptables("-I", rule);
      if (failed !== null) return failed;
    }
    return null;
  }
}
