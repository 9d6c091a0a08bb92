/**
 * One async critical section per key (e.g. per user): concurrent first logins of one user queue
 * here, so they create exactly one network and one container. Engine 20.10 does not make network
 * creation atomic, and the daemon is the only Docker client, so an in-process lock is enough.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await next;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
