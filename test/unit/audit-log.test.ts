import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditLog } from "../../agent/src/adapters/fs/audit-log.js";

const dir = mkdtempSync(join(tmpdir(), "pst-audit-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(dir, `a${++n}`, "audit.log");

function lines(path: string): Record<string, unknown>[] {
  return readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("AuditLog", () => {
  it("appends one JSON line per record, in order, root-only (0600)", async () => {
    const path = fresh();
    mkdirSync(join(path, ".."), { recursive: true });
    const log = new AuditLog({ path });
    for (let i = 0; i < 50; i++) log.write({ event: "e", i });
    await log.flushed();
    assert.deepEqual(lines(path).map((r) => r["i"]), [...Array(50).keys()]);
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });

  it("rotates before the file would pass maxBytes and keeps only `keep` old files: the disk use is bounded", async () => {
    const path = fresh();
    mkdirSync(join(path, ".."), { recursive: true });
    const log = new AuditLog({ path, maxBytes: 1000, keep: 2 });
    for (let i = 0; i < 200; i++) log.write({ event: "e", i, pad: "x".repeat(50) });
    await log.flushed();
    assert.deepEqual(readdirSync(join(path, "..")).sort(), ["audit.log", "audit.log.1", "audit.log.2"]);
    for (const f of ["audit.log", "audit.log.1", "audit.log.2"]) assert.ok(statSync(join(path, "..", f)).size <= 1000, f);
    const newest = lines(path).map((r) => r["i"] as number);
    assert.equal(newest.at(-1), 199);
    const older = lines(`${path}.1`).map((r) => r["i"] as number);
    assert.equal(older.at(-1), (newest[0] as number) - 1, "rotation loses no line in between");
  });

  it("counts the existing file's size when it starts (a restarted daemon rotates a full log)", async () => {
    const path = fresh();
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, "x".repeat(990) + "\n", { mode: 0o600 });
    const log = new AuditLog({ path, maxBytes: 1000 });
    log.write({ event: "after-restart" });
    await log.flushed();
    assert.equal(lines(path)[0]?.["event"], "after-restart");
    assert.equal(readFileSync(`${path}.1`, "utf8").length, 991);
  });

  it("drops lines past maxPending while the disk is behind, and the next line says how many", async () => {
    const path = fresh();
    mkdirSync(join(path, ".."), { recursive: true });
    const log = new AuditLog({ path, maxPending: 3 });
    for (let i = 0; i < 10; i++) log.write({ event: "e", i });
    await log.flushed();
    log.write({ event: "later" });
    await log.flushed();
    const r = lines(path);
    assert.deepEqual(r.map((x) => x["i"] ?? x["event"]), [0, 1, 2, "later"]);
    assert.equal(r[3]?.["droppedBefore"], 7);
  });

  it("reports a write failure once per record and keeps going", async () => {
    const errors: unknown[] = [];
    const log = new AuditLog({ path: join(dir, "no-such-dir", "audit.log"), onError: (e) => errors.push(e) });
    log.write({ event: "a" });
    log.write({ event: "b" });
    await log.flushed();
    assert.equal(errors.length, 2);
  });
});
