import tar from "tar-stream";

/**
 * Our use of tar-stream: pack a few entries with exact modes and numeric owners (the user's
 * passwd entry and home written into a container through Docker's archive API, the agent bundle
 * artifact), and read regular files back out of an archive with a bound on how much is kept.
 */
export interface TarEntry {
  readonly path: string;
  readonly type: "file" | "dir";
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly data?: Buffer;
}

// tar-stream replaces a falsy mode with its default (0644/0755); the file-type bits keep an
// intended 0 mode truthy, and its encoder writes only the permission bits.
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

/** Fixed mtime and no user/group names: the same entries always give the same bytes. */
function headerOf(e: TarEntry, size: number): Partial<tar.Header> & Pick<tar.Header, "name"> {
  const dir = e.type === "dir";
  return {
    name: dir && !e.path.endsWith("/") ? `${e.path}/` : e.path,
    type: dir ? "directory" : "file",
    mode: (dir ? S_IFDIR : S_IFREG) | (e.mode & 0o7777),
    uid: e.uid,
    gid: e.gid,
    size,
    mtime: new Date(0),
  };
}

export async function packTar(entries: readonly TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (e.type === "dir") pack.entry(headerOf(e, 0), done);
      else pack.entry(headerOf(e, e.data?.length ?? 0), e.data ?? Buffer.alloc(0), done);
    });
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

/** /etc/passwd, /etc/group and dotfiles are kilobytes; an archive of more is not what we asked for. */
export const DEFAULT_MAX_TAR_READ_BYTES = 8 * 1024 * 1024;

export class TarLimitError extends Error {
  override readonly name = "TarLimitError";
}

/**
 * Regular files of an archive by path (other entry types are skipped). Stops reading, and
 * destroys the source, as soon as the files hold more than `maxBytes`.
 */
export async function readTarFiles(source: Buffer | NodeJS.ReadableStream, maxBytes = DEFAULT_MAX_TAR_READ_BYTES): Promise<Map<string, Buffer>> {
  const extract = tar.extract();
  const stop = (err?: Error): void => {
    extract.destroy(err);
    if (!Buffer.isBuffer(source)) (source as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
  };
  if (Buffer.isBuffer(source)) extract.end(source);
  else {
    source.on("error", (err: Error) => stop(err));
    source.pipe(extract);
  }
  const files = new Map<string, Buffer>();
  let total = 0;
  try {
    for await (const entry of extract) {
      const regular = entry.header.type === "file" || entry.header.type === "contiguous-file";
      const chunks: Buffer[] = [];
      for await (const data of entry) {
        if (!regular) continue;
        const chunk = data as Buffer;
        total += chunk.length;
        if (total > maxBytes) throw new TarLimitError(`the archive's files hold more than ${maxBytes} bytes`);
        chunks.push(chunk);
      }
      if (regular) files.set(entry.header.name, Buffer.concat(chunks));
    }
  } catch (err) {
    stop();
    throw err;
  }
  return files;
}
