/**
 * A minimal ustar reader and writer: enough to read /etc/passwd out of an image and write the
 * user's passwd entry and home directory back through Docker's archive API, with no dependency.
 */
export interface TarEntry {
  readonly path: string;
  readonly type: "file" | "dir";
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly data?: Buffer;
}

const BLOCK = 512;

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

function header(e: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  const path = e.type === "dir" && !e.path.endsWith("/") ? e.path + "/" : e.path;
  if (Buffer.byteLength(path) > 100) throw new Error(`tar path too long: ${path}`);
  h.write(path, 0, 100, "utf8");
  h.write(octal(e.mode & 0o7777, 8), 100, 8, "ascii");
  h.write(octal(e.uid, 8), 108, 8, "ascii");
  h.write(octal(e.gid, 8), 116, 8, "ascii");
  h.write(octal(size, 12), 124, 12, "ascii");
  h.write(octal(0, 12), 136, 12, "ascii");
  h.write("        ", 148, 8, "ascii");
  h.write(e.type === "dir" ? "5" : "0", 156, 1, "ascii");
  h.write("ustar\0", 257, 6, "ascii");
  h.write("00", 263, 2, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "ascii");
  return h;
}

export function writeTar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.type === "file" ? (e.data ?? Buffer.alloc(0)) : Buffer.alloc(0);
    parts.push(header(e, data.length), data);
    const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(BLOCK * 2, 0));
  return Buffer.concat(parts);
}

/** Regular files of a tar stream by path (other entry types are skipped). */
export function readTarFiles(tar: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let off = 0;
  while (off + BLOCK <= tar.length) {
    const h = tar.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) break;
    const name = h.subarray(0, 100).toString("utf8").replace(/\0.*$/s, "");
    const prefix = h.subarray(345, 500).toString("utf8").replace(/\0.*$/s, "");
    const size = parseInt(h.subarray(124, 136).toString("ascii").replace(/\0.*$/s, "").trim() || "0", 8);
    const type = String.fromCharCode(h[156] ?? 0);
    off += BLOCK;
    if (type === "0" || type === "\0") files.set(prefix ? `${prefix}/${name}` : name, Buffer.from(tar.subarray(off, off + size)));
    off += Math.ceil(size / BLOCK) * BLOCK;
  }
  return files;
}
