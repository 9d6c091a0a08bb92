/**
 * Runs a task one at a time, and joins triggers: a call while a run waits for its turn gets that
 * waiting run instead of queueing another. Every caller's promise settles after a run that
 * started after its call, so nobody sees stale work, and a burst of N triggers costs at most two
 * runs, not N.
 */
export class CoalescedRun {
  private tail: Promise<void> = Promise.resolve();
  private waiting: Promise<void> | null = null;

  constructor(private readonly task: () => Promise<void>) {}

  run(): Promise<void> {
    if (this.waiting) return this.waiting;
    const next = this.tail.then(() => {
      // From here on a new trigger must wait for another run: this one may have read too early.
      this.waiting = null;
      return this.task();
    });
    this.waiting = next;
    this.tail = next.catch(() => undefined);
    return next;
  }
}
