import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { readTarFiles, writeTar, type TarEntry } from "../../agent/src/support/tar.js";

describe("writeTar", () => {
  it("writes 512-byte blocks ending in two zero blocks", () => {
    const tar = writeTar([{ path: "a", type: "file", mode: 0o644, uid: 0, gid: 0, data: Buffer.from("x") }]);
    assert.equal(tar.length % 512, 0);
    assert.equal(tar.length, 512 * 4);
    assert.ok(tar.subarray(tar.length - 1024).every((b) => b === 0));
  });

  it("writes an empty archive as just the end marker", () => {
    assert.deepEqual(writeTar([]), Buffer.alloc(1024));
  });

  it("refuses a path longer than 100 bytes", () => {
    assert.throws(() => writeTar([{ path: "a".repeat(101), type: "file", mode: 0o644, uid: 0, gid: 0 }]), /too long/);
  });

  it("writes a header checksum that matches the header bytes", () => {
    const tar = writeTar([{ path: "etc/passwd", type: "file", mode: 0o644, uid: 0, gid: 0, data: Buffer.from("root:x:0:0::/root:/bin/sh\n") }]);
    const h = Buffer.from(tar.subarray(0, 512));
    const stored = parseInt(h.subarray(148, 156).toString("ascii"), 8);
    h.fill(0x20, 148, 156);
    assert.equal(stored, h.reduce((a, b) => a + b, 0));
  });
});

describe("readTarFiles", () => {
  it("reads back the regular files writeTar wrote and skips directories", () => {
    const tar = writeTar([
      { path: "home/alice", type: "dir", mode: 0o750, uid: 1000, gid: 1000 },
      { path: "etc/passwd", type: "file", mode: 0o644, uid: 0, gid: 0, data: Buffer.from("alice:x:1000:1000::/home/alice:/bin/bash\n") },
      { path: "empty", type: "file", mode: 0o600, uid: 0, gid: 0 },
    ]);
    const files = readTarFiles(tar);
    assert.deepEqual([...files.keys()], ["etc/passwd", "empty"]);
    assert.equal(files.get("etc/passwd")?.toString("utf8"), "alice:x:1000:1000::/home/alice:/bin/bash\n");
    assert.equal(files.get("empty")?.length, 0);
  });

  it("round-trips any set of files with any content (property)", () => {
    const entry = fc.record({
      path: fc.stringMatching(/^[a-z0-9_.-]{1,20}(\/[a-z0-9_.-]{1,20}){0,3}$/).filter((p) => !p.endsWith("/")),
      data: fc.uint8Array({ maxLength: 1500 }).map((a) => Buffer.from(a)),
    });
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: (e) => e.path, maxLength: 8 }), (entries) => {
        const tar = writeTar(entries.map((e): TarEntry => ({ ...e, type: "file", mode: 0o644, uid: 1, gid: 2 })));
        const files = readTarFiles(tar);
        assert.equal(files.size, entries.length);
        for (const e of entries) assert.ok(files.get(e.path)?.equals(e.data), e.path);
      }),
    );
  });

  it("returns copies that do not alias the tar buffer", () => {
    const tar = writeTar([{ path: "f", type: "file", mode: 0o644, uid: 0, gid: 0, data: Buffer.from("abc") }]);
    const f = readTarFiles(tar).get("f");
    tar.fill(0);
    assert.equal(f?.toString(), "abc");
  });

  it("stops at the end-of-archive marker", () => {
    const tar = Buffer.concat([writeTar([{ path: "a", type: "file", mode: 0o644, uid: 0, gid: 0, data: Buffer.from("1") }]), Buffer.alloc(512, 0x41)]);
    assert.deepEqual([...readTarFiles(tar).keys()], ["a"]);
  });
});

describe("interoperability with GNU tar", () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "podspawn-tar-"));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("tar -tvf lists the names, modes and numeric owners writeTar wrote", () => {
    const tar = writeTar([
      { path: "home/alice", type: "dir", mode: 0o750, uid: 1001, gid: 1002 },
      { path: "home/alice/.profile", type: "file", mode: 0o640, uid: 1001, gid: 1002, data: Buffer.from("export A=1\n") },
      { path: "etc/passwd", type: "file", mode: 0o644, uid: 0, gid: 0, data: Buffer.from("x\n") },
    ]);
    const out = execFileSync("tar", ["--numeric-owner", "-tvf", "-"], { input: tar, encoding: "utf8" });
    const lines = out.trim().split("\n").map((l) => l.split(/\s+/));
    assert.equal(lines.length, 3);
    assert.deepEqual(
      lines.map((f) => [f[0], f[1], f[2], f.at(-1)]),
      [
        ["drwxr-x---", "1001/1002", "0", "home/alice/"],
        ["-rw-r-----", "1001/1002", "11", "home/alice/.profile"],
        ["-rw-r--r--", "0/0", "2", "etc/passwd"],
      ],
    );
  });

  it("tar -xf extracts the content writeTar wrote without complaint", () => {
    const out = join(dir, "extract");
    mkdirSync(out);
    const tar = writeTar([
      { path: "d", type: "dir", mode: 0o755, uid: 0, gid: 0 },
      { path: "d/f.txt", type: "file", mode: 0o600, uid: 0, gid: 0, data: Buffer.alloc(700, 0x62) },
    ]);
    execFileSync("tar", ["--no-same-owner", "-xf", "-", "-C", out], { input: tar, stdio: ["pipe", "pipe", "pipe"] });
    const check = execFileSync("stat", ["-c", "%a %s", join(out, "d/f.txt")], { encoding: "utf8" }).trim();
    assert.equal(check, "600 700");
  });

  it("readTarFiles reads files from an archive made by tar -cf", () => {
    const src = join(dir, "src");
    mkdirSync(join(src, "etc", "sub"), { recursive: true });
    writeFileSync(join(src, "etc", "passwd"), "root:x:0:0:root:/root:/bin/bash\n");
    writeFileSync(join(src, "etc", "sub", "big"), Buffer.alloc(1300, 0x7a));
    writeFileSync(join(src, "etc", "empty"), "");
    chmodSync(join(src, "etc", "passwd"), 0o644);
    for (const format of ["gnu", "ustar", "posix"]) {
      const tar = execFileSync("tar", [`--format=${format}`, "-cf", "-", "-C", src, "etc"]);
      const files = readTarFiles(tar);
      assert.deepEqual([...files.keys()].sort(), ["etc/empty", "etc/passwd", "etc/sub/big"], format);
      assert.equal(files.get("etc/passwd")?.toString("utf8"), "root:x:0:0:root:/root:/bin/bash\n", format);
      assert.ok(files.get("etc/sub/big")?.equals(Buffer.alloc(1300, 0x7a)), format);
      assert.equal(files.get("etc/empty")?.length, 0, format);
    }
  });

  it("readTarFiles joins the ustar prefix field for long paths made by tar -cf", () => {
    const src = join(dir, "long");
    const deep = join("a".repeat(60), "b".repeat(60));
    mkdirSync(join(src, deep), { recursive: true });
    writeFileSync(join(src, deep, "file"), "deep\n");
    const tar = execFileSync("tar", ["--format=ustar", "-cf", "-", "-C", src, "."]);
    const files = readTarFiles(tar);
    assert.equal(files.get(`./${deep}/file`)?.toString("utf8"), "deep\n");
  });
});
