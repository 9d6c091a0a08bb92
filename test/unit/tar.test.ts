import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import fc from "fast-check";
import { packTar, readTarFiles, TarLimitError, type TarEntry } from "../../agent/src/support/tar.js";

// Tests of our use of tar-stream: what the account archive and the bundle artifact need.

const file = (path: string, data: string | Buffer, mode = 0o644, uid = 0, gid = 0): TarEntry => ({ path, type: "file", mode, uid, gid, data: Buffer.from(data) });

function gnuListing(tar: Buffer): string[][] {
  const out = execFileSync("tar", ["--numeric-owner", "-tvf", "-"], { input: tar, encoding: "utf8" });
  return out
    .trim()
    .split("\n")
    .map((l) => l.split(/\s+/))
    .map((f) => [f[0] ?? "", f[1] ?? "", f[2] ?? "", f.at(-1) ?? ""]);
}

describe("packTar", () => {
  it("writes an empty archive as just the end marker", async () => {
    assert.deepEqual(await packTar([]), Buffer.alloc(1024));
  });

  it("gives the same bytes for the same entries (fixed mtime, no owner names)", async () => {
    const entries = [file("etc/passwd", "root:x:0:0::/root:/bin/sh\n"), { path: "home/a", type: "dir", mode: 0o750, uid: 7, gid: 8 } as const];
    const tar = await packTar(entries);
    assert.deepEqual(await packTar(entries), tar);
    const listing = execFileSync("tar", ["-tvf", "-"], { input: tar, encoding: "utf8", env: { ...process.env, TZ: "UTC" } });
    assert.deepEqual(listing.match(/\d{4}-\d\d-\d\d \d\d:\d\d/g), ["1970-01-01 00:00", "1970-01-01 00:00"], "mtime 0, not the time of packing");
    assert.doesNotMatch(listing, /root/, "numeric owners only");
  });

  it("keeps exact modes (0 included), numeric owners, sizes and directories, as GNU tar reads them", async () => {
    const tar = await packTar([
      { path: "home/alice", type: "dir", mode: 0o750, uid: 1001, gid: 1002 },
      file("home/alice/.profile", "export A=1\n", 0o640, 1001, 1002),
      file("etc/shadow-ish", "x\n", 0o000, 0, 42),
      file("etc/setuid", "", 0o4755, 0, 0),
    ]);
    assert.deepEqual(gnuListing(tar), [
      ["drwxr-x---", "1001/1002", "0", "home/alice/"],
      ["-rw-r-----", "1001/1002", "11", "home/alice/.profile"],
      ["----------", "0/42", "2", "etc/shadow-ish"],
      ["-rwsr-xr-x", "0/0", "0", "etc/setuid"],
    ]);
  });

  it("writes paths longer than 100 bytes, which plain ustar cannot hold", async () => {
    const long = `home/${"d".repeat(120)}/${"f".repeat(120)}`;
    const tar = await packTar([file(long, "deep\n")]);
    assert.deepEqual(gnuListing(tar).map((l) => l[3]), [long]);
    assert.equal((await readTarFiles(tar)).get(long)?.toString(), "deep\n");
  });
});

describe("readTarFiles", () => {
  it("reads back the regular files and skips directories", async () => {
    const tar = await packTar([{ path: "home/alice", type: "dir", mode: 0o750, uid: 1000, gid: 1000 }, file("etc/passwd", "alice:x:1000:1000::/home/alice:/bin/bash\n"), file("empty", "")]);
    const files = await readTarFiles(tar);
    assert.deepEqual([...files.keys()], ["etc/passwd", "empty"]);
    assert.equal(files.get("etc/passwd")?.toString("utf8"), "alice:x:1000:1000::/home/alice:/bin/bash\n");
    assert.equal(files.get("empty")?.length, 0);
  });

  it("round-trips any set of files with any content (property)", async () => {
    const entry = fc.record({
      path: fc.stringMatching(/^[a-z0-9_.-]{1,40}(\/[a-z0-9_.-]{1,40}){0,4}$/).filter((p) => !p.endsWith("/") && p !== "." && p !== ".."),
      data: fc.uint8Array({ maxLength: 1500 }).map((a) => Buffer.from(a)),
    });
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(entry, { selector: (e) => e.path, maxLength: 8 }), async (entries) => {
        const files = await readTarFiles(await packTar(entries.map((e): TarEntry => ({ ...e, type: "file", mode: 0o644, uid: 1, gid: 2 }))));
        assert.equal(files.size, entries.length);
        for (const e of entries) assert.ok(files.get(e.path)?.equals(e.data), e.path);
      }),
      { numRuns: 50 },
    );
  });

  it("reads from a stream as Docker's getArchive gives one", async () => {
    const tar = await packTar([file("passwd", "root:x:0:0::/:/bin/sh\n")]);
    const stream = new PassThrough();
    stream.end(tar);
    assert.equal((await readTarFiles(stream)).get("passwd")?.toString(), "root:x:0:0::/:/bin/sh\n");
  });

  it("stops, and destroys the source, once the files hold more than the bound", async () => {
    const tar = await packTar([file("a", Buffer.alloc(600, 1)), file("b", Buffer.alloc(600, 2))]);
    await assert.rejects(readTarFiles(tar, 1000), TarLimitError);
    const stream = new PassThrough();
    stream.write(tar);
    await assert.rejects(readTarFiles(stream, 1000), /more than 1000 bytes/);
    assert.equal(stream.destroyed, true);
    assert.equal((await readTarFiles(tar, 1200)).size, 2, "exactly at the bound is fine");
  });

  it("rejects a stream that fails", async () => {
    const stream = new PassThrough();
    const reading = readTarFiles(stream);
    stream.destroy(new Error("engine went away"));
    await assert.rejects(reading);
  });
});

describe("reading archives made by GNU tar", () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "podspawn-tar-"));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads gnu, ustar and posix archives", async () => {
    const src = join(dir, "src");
    mkdirSync(join(src, "etc", "sub"), { recursive: true });
    writeFileSync(join(src, "etc", "passwd"), "root:x:0:0:root:/root:/bin/bash\n");
    writeFileSync(join(src, "etc", "sub", "big"), Buffer.alloc(1300, 0x7a));
    writeFileSync(join(src, "etc", "empty"), "");
    chmodSync(join(src, "etc", "passwd"), 0o644);
    for (const format of ["gnu", "ustar", "posix"]) {
      const files = await readTarFiles(execFileSync("tar", [`--format=${format}`, "-cf", "-", "-C", src, "etc"]));
      assert.deepEqual([...files.keys()].sort(), ["etc/empty", "etc/passwd", "etc/sub/big"], format);
      assert.equal(files.get("etc/passwd")?.toString("utf8"), "root:x:0:0:root:/root:/bin/bash\n", format);
      assert.ok(files.get("etc/sub/big")?.equals(Buffer.alloc(1300, 0x7a)), format);
      assert.equal(files.get("etc/empty")?.length, 0, format);
    }
  });

  it("joins the ustar prefix field, and reads GNU long names", async () => {
    const src = join(dir, "long");
    const deep = join("a".repeat(60), "b".repeat(60));
    mkdirSync(join(src, deep), { recursive: true });
    writeFileSync(join(src, deep, "file"), "deep\n");
    writeFileSync(join(src, "n".repeat(150)), "long\n");
    const ustar = await readTarFiles(execFileSync("tar", ["--format=ustar", "-cf", "-", "-C", src, deep]));
    assert.equal(ustar.get(`${deep}/file`)?.toString("utf8"), "deep\n");
    const gnu = await readTarFiles(execFileSync("tar", ["--format=gnu", "-cf", "-", "-C", src, "n".repeat(150)]));
    assert.equal(gnu.get("n".repeat(150))?.toString("utf8"), "long\n");
  });

  it("GNU tar extracts what packTar wrote without complaint", async () => {
    const out = join(dir, "extract");
    mkdirSync(out);
    const tar = await packTar([{ path: "d", type: "dir", mode: 0o755, uid: 0, gid: 0 }, file("d/f.txt", Buffer.alloc(700, 0x62), 0o600)]);
    execFileSync("tar", ["--no-same-owner", "-xf", "-", "-C", out], { input: tar, stdio: ["pipe", "pipe", "pipe"] });
    assert.equal(execFileSync("stat", ["-c", "%a %s", join(out, "d/f.txt")], { encoding: "utf8" }).trim(), "600 700");
  });
});
