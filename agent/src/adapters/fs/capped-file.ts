import { open } from "node:fs/promises";

/**
 * A text file read with a size cap: at most `maxBytes + 1` bytes are read, so a huge (or endless,
 * like a FIFO or /dev/zero) file cannot fill memory, and a parser that refuses more than
 * `maxBytes` still sees that it was too long. Null when the file does not exist.
 */
export async function readCappedTextFile(path: string, maxBytes: number): Promise<string | null> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  try {
    const buf = Buffer.alloc(maxBytes + 1);
    let filled = 0;
    while (filled < buf.length) {
      const { bytesRead } = await fh.read(buf, filled, buf.length - filled, null);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buf.subarray(0, filled).toString("utf8");
  } finally {
    await fh.close();
  }
}
