import { drainRefusal, OPEN, type DrainState } from "../../core/host/drain.js";

export interface DrainStore {
  load(): Promise<DrainState>;
  save(state: DrainState): Promise<void>;
}

/**
 * Whether this node takes new environments. Consulted only where an environment would be
 * created (or recreated): sessions that are open go on, and a returning user whose container is
 * still here gets back into it. Saved before it takes effect, so an upgrade's restart keeps it.
 */
export class DrainGate {
  private state: DrainState = OPEN;

  constructor(
    private readonly store: DrainStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** At daemon start. */
  async load(): Promise<DrainState> {
    this.state = await this.store.load();
    return this.state;
  }

  current(): DrainState {
    return this.state;
  }

  /** Drain (with an optional reason) or open; returns the state before. */
  async set(drain: boolean, reason: string | null): Promise<DrainState> {
    const before = this.state;
    const next: DrainState = drain ? { drained: true, reason: reason ?? (before.drained ? before.reason : null), since: before.drained ? before.since : this.now().toISOString() } : OPEN;
    await this.store.save(next);
    this.state = next;
    return before;
  }

  /** The refusal for a new environment, or null when the node is open. */
  refusal(): Error | null {
    return drainRefusal(this.state);
  }
}
