/**
 * At most `size` tasks at once, and at most `maxWaiting` more queued behind them (first come,
 * first served). A task arriving at a full queue is refused at once with SlotsFull, so a burst
 * never grows an unbounded line of waiters.
 */
export class SlotsFull extends Error {
  override readonly name = "SlotsFull";
}

export class Slots {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly size: number,
    private readonly maxWaiting: number,
  ) {
    if (!(size >= 1)) throw new Error("Slots needs at least one slot");
  }

  get busy(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `task` in a slot; `onWait` is told once if it has to queue first. */
  async run<T>(task: () => Promise<T>, onWait?: () => void): Promise<T> {
    if (this.running >= this.size) {
      if (this.waiting.length >= this.maxWaiting) throw new SlotsFull(`all ${this.size} slots are busy and ${this.maxWaiting} tasks wait`);
      onWait?.();
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter, so a newcomer cannot overtake the queue.
      if (next) next();
      else this.running--;
    }
  }
}
