import { appendFile, rename, stat } from "node:fs/promises";

export interface AuditLogOptions {
  readonly path: string;
  /** Rotate before the file would pass this. @default 16 MiB */
  readonly maxBytes?: number;
  /** Rotated files kept (path.1 newest ... path.N oldest). @default 4 */
  readonly keep?: number;
  /** Lines waiting for the disk at most; more are counted and dropped. @default 10 000 */
  readonly maxPending?: number;
  /** Told once per write failure (the daemon log). */
  readonly onError?: (err: unknown) => void;
}

/**
 * The daemon's append-only audit log, root-only (0600), with a bounded size on disk (the live
 * file plus `keep` rotated ones) and a bounded queue in memory: lines are written one at a time,
 * in order; when the disk falls behind by `maxPending` lines the rest are dropped, and the next
 * line written carries how many were (an audit gap is recorded, not hidden).
 */
export class AuditLog {
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  private dropped = 0;
  private size: number | null = null;

  constructor(private readonly opts: AuditLogOptions) {}

  write(record: Record<string, unknown>): void {
    if (this.pending >= (this.opts.maxPending ?? 10_000)) {
      this.dropped++;
      return;
    }
    this.pending++;
    // The gap is told by the first line accepted after it, so it sits where it happened.
    const gap = this.dropped > 0 ? { droppedBefore: this.dropped } : {};
    this.dropped = 0;
    const line = JSON.stringify({ time: new Date().toISOString(), ...record, ...gap }) + "\n";
    this.chain = this.chain.then(() => this.append(line)).catch((err: unknown) => this.opts.onError?.(err)).finally(() => void this.pending--);
  }

  /** Resolves once every line written so far is on disk (or failed). */
  flushed(): Promise<void> {
    return this.chain;
  }

  private async append(line: string): Promise<void> {
    const bytes = Buffer.byteLength(line);
    this.size ??= await stat(this.opts.path).then((s) => s.size, () => 0);
    if (this.size > 0 && this.size + bytes > (this.opts.maxBytes ?? 16 * 1024 * 1024)) await this.rotate();
    await appendFile(this.opts.path, line, { mode: 0o600 });
    this.size += bytes;
  }

  private async rotate(): Promise<void> {
    const { path } = this.opts;
    const keep = this.opts.keep ?? 4;
    for (let i = keep - 1; i >= 1; i--) await rename(`${path}.${i}`, `${path}.${i + 1}`).catch(() => undefined);
    await rename(path, `${path}.1`);
    this.size = 0;
  }
}
