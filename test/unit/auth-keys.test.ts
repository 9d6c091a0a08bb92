import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import fc from "fast-check";
import { computeAuthorizedKeys, runAuthKeys, type ReadText } from "../../agent/src/auth/auth-keys.js";
import { formatPublicKey, parsePublicKey } from "../../agent/src/core/users/keys.js";
import { layoutFor } from "../../agent/src/core/host/layout.js";
import { fixtureLine, freshEd25519 } from "./helpers/test-keys.js";

const layout = layoutFor("podspawn-unit");
const ed = parsePublicKey(fixtureLine("ed25519"));
const ec = parsePublicKey(fixtureLine("ecdsa256"));
const registry = `${formatPublicKey(ed)}\n${formatPublicKey(ec)}\n`;
const CMD = `restrict,agent-forwarding,pty,command="/usr/local/lib/podspawn-unit/bin/podspawn spawn --user alice"`;

function files(map: Record<string, string>): ReadText {
  return async (path) => {
    const text = map[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" });
    return text;
  };
}
const read = files({ "/etc/podspawn-unit/users/alice.keys": registry });

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString("utf8") };
}

describe("auth-keys", () => {
  it("prints one restricted forced-command line per registered key", async () => {
    const out = await computeAuthorizedKeys(["alice"], layout, read);
    assert.deepEqual(out, { code: 0, stderr: "", stdout: `${CMD} ssh-ed25519 ${ed.base64}\n${CMD} ecdsa-sha2-nistp256 ${ec.base64}\n` });
  });

  it("prints only the key matching %t %k", async () => {
    const out = await computeAuthorizedKeys(["alice", "ecdsa-sha2-nistp256", ec.base64], layout, read);
    assert.equal(out.stdout, `${CMD} ecdsa-sha2-nistp256 ${ec.base64}\n`);
    const none = await computeAuthorizedKeys(["alice", "ssh-ed25519", ec.base64], layout, read);
    assert.deepEqual(none, { code: 0, stdout: "", stderr: "" });
  });

  it("prints nothing and exits 0 for a user it does not know", async () => {
    assert.deepEqual(await computeAuthorizedKeys(["bob"], layout, read), { code: 0, stdout: "", stderr: "" });
  });

  it("refuses an invalid user name without reading anything", async () => {
    let reads = 0;
    const out = await computeAuthorizedKeys(["../../etc/shadow"], layout, async () => (reads++, ""));
    assert.equal(out.code, 1);
    assert.equal(out.stdout, "");
    assert.equal(reads, 0);
  });

  it("fails closed on a read error other than a missing file", async () => {
    const out = await computeAuthorizedKeys(["alice"], layout, async () => {
      throw Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" });
    });
    assert.equal(out.code, 1);
    assert.equal(out.stdout, "");
    assert.match(out.stderr, /EACCES/);
  });

  it("fails closed, printing no key at all, when one registry line is damaged", async () => {
    const damaged = files({ "/etc/podspawn-unit/users/alice.keys": `${registry}ssh-ed25519 AAAA\n` });
    const out = await computeAuthorizedKeys(["alice"], layout, damaged);
    assert.equal(out.code, 1);
    assert.equal(out.stdout, "");
  });

  it("prints usage and exits 2 for a wrong argument count", async () => {
    assert.equal((await computeAuthorizedKeys([], layout, read)).code, 2);
    assert.equal((await computeAuthorizedKeys(["a", "b", "c", "d"], layout, read)).code, 2);
  });

  it("gives up at its deadline, not before, with nothing on stdout", { timeout: 5000 }, async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const out = capture();
    const err = capture();
    let reading!: () => void;
    const readStarted = new Promise<void>((resolve) => (reading = resolve));
    let settled = false;
    const running = runAuthKeys(["alice"], layout, { stdout: out.stream, stderr: err.stream }, {
      deadlineMs: 100,
      read: () => (reading(), new Promise<string>(() => undefined)),
    }).finally(() => (settled = true));
    await readStarted;
    t.mock.timers.tick(99);
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, "still waiting 1 ms before the deadline");
    t.mock.timers.tick(1);
    assert.deepEqual(await running, { code: 1, timedOut: true });
    assert.equal(out.text(), "");
    assert.match(err.text(), /no answer within 100 ms/);
  });

  it("writes its answer to stdout only on success", async () => {
    const out = capture();
    const err = capture();
    const result = await runAuthKeys(["alice"], layout, { stdout: out.stream, stderr: err.stream }, { read });
    assert.deepEqual(result, { code: 0, timedOut: false });
    assert.equal(out.text().split("\n").length, 3);
    assert.equal(err.text(), "");
  });

  it("only ever prints well-formed restricted lines, whatever the arguments (property)", async () => {
    const user = fc.oneof(fc.constant("alice"), fc.string({ maxLength: 40 }));
    await fc.assert(
      fc.asyncProperty(user, fc.option(fc.string()), fc.option(fc.string()), async (u, t, k) => {
        const argv = [u, ...(t === null ? [] : [t]), ...(k === null || t === null ? [] : [k])];
        const out = await computeAuthorizedKeys(argv, layout, read);
        for (const line of out.stdout.split("\n").filter(Boolean)) {
          assert.match(line, /^restrict,agent-forwarding,pty,command="\/usr\/local\/lib\/podspawn-unit\/bin\/podspawn spawn --user [a-z][a-z0-9_-]*" [a-z0-9@.-]+ [A-Za-z0-9+/=]+$/);
        }
        if (out.code !== 0) assert.equal(out.stdout, "");
      }),
    );
  });

  it("matches a freshly registered key exactly by type and base64", async () => {
    const k = parsePublicKey(freshEd25519());
    const r = files({ "/etc/podspawn-unit/users/carol.keys": formatPublicKey(k) + "\n" });
    const out = await computeAuthorizedKeys(["carol", k.type, k.base64], layout, r);
    assert.equal(out.stdout.trim().split(" ").slice(-1)[0], k.base64);
  });
});
