import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";

/**
 * The full log of one image build, for the node's admin (the user sees a few lines): one file per
 * build under the state dir, root 0600, at most MAX_BUILD_LOG_BYTES each (then one line saying
 * the rest was cut), and only the newest KEEP_BUILD_LOGS files are kept.
 */
export const MAX_BUILD_LOG_BYTES = 8 * 1024 * 1024;
export const KEEP_BUILD_LOGS = 100;

export class BuildLog {
  private written = 0;
  private cut = false;

  private constructor(
    readonly path: string,
    private readonly out: WriteStream,
  ) {}

  /** `<dir>/<tag as a file name>.<time>.log`; the directory is made (0700) if missing. */
  static async open(dir: string, tag: string, now: Date): Promise<BuildLog> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const name = `${tag.replace(/[^A-Za-z0-9_.-]/g, "_")}.${now.toISOString().replace(/[:.]/g, "-")}.log`;
    const path = `${dir}/${name}`;
    const out = createWriteStream(path, { flags: "wx", mode: 0o600 });
    await new Promise<void>((resolve, reject) => {
      out.once("open", () => resolve());
      out.once("error", reject);
    });
    return new BuildLog(path, out);
  }

  line(text: string): void {
    if (this.cut) return;
    const bytes = Buffer.byteLength(text) + 1;
    if (this.written + bytes > MAX_BUILD_LOG_BYTES) {
      this.cut = true;
      this.out.write(`[podspawn: the rest of this build's output was cut at ${MAX_BUILD_LOG_BYTES} bytes]\n`);
      return;
    }
    this.written += bytes;
    this.out.write(`${text}\n`);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.out.end(() => resolve()));
  }
}

/** Removes all but the newest `keep` logs, by the time in their names. */
export async function pruneBuildLogs(dir: string, keep = KEEP_BUILD_LOGS): Promise<void> {
  const names = (await readdir(dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isFile() && e.name.endsWith(".log")).map((e) => e.name);
  if (names.length <= keep) return;
  // The timestamp is the name's second-to-last dot-separated part: sort on it, oldest first.
  const stamp = (n: string): string => n.split(".").slice(-2, -1)[0] ?? "";
  const oldest = names.sort((a, b) => (stamp(a) < stamp(b) ? -1 : stamp(a) > stamp(b) ? 1 : 0)).slice(0, names.length - keep);
  for (const n of oldest) await rm(`${dir}/${n}`, { force: true });
}
