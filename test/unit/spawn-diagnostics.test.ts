import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { INTERNAL_ERROR_LINE } from "../../agent/src/spawn/diagnostics.js";

/** Hang guard only. */
const SUITE = { timeout: 60_000 };
const here = dirname(fileURLToPath(import.meta.url));
const diagnosticsModule = join(here, "..", "..", "agent", "src", "spawn", "diagnostics.js");
const bundle = join(here, "..", "..", "bundle", "spawn.cjs");
const dir = mkdtempSync(join(tmpdir(), "pst-diag-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: { PATH: "/usr/bin:/bin", ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** What made Node print on its own before: a listener leak warning, a runtime deprecation, then a crash. */
const NOISE = `
const { EventEmitter } = require("node:events");
const e = new EventEmitter();
for (let i = 0; i < 11; i++) e.on("drain", () => undefined);
new Buffer(1);
`;

describe("spawn's stderr carries only our one-line messages", SUITE, () => {
  it("sends Node's warnings and an uncaught error's stack to the diagnostics, and prints one line", async () => {
    const sink = join(dir, "diag.log");
    const script = join(dir, "noisy.mjs");
    writeFileSync(
      script,
      `import { appendFileSync } from "node:fs";
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const { keepStderrClean } = await import(${JSON.stringify(diagnosticsModule)});
keepStderrClean(process.stderr, (line) => appendFileSync(${JSON.stringify(sink)}, line + "\\n---\\n"), (code) => process.exit(code));
${NOISE}
setImmediate(() => { throw new Error("boom in spawn"); });
`,
    );
    const r = await run([script]);
    assert.equal(r.stderr, `podspawn: ${INTERNAL_ERROR_LINE}\n`);
    assert.equal(r.stdout, "");
    assert.equal(r.code, 255);
    const logged = readFileSync(sink, "utf8").split("\n---\n");
    assert.ok(logged.some((l) => l.startsWith("warning: MaxListenersExceededWarning:")), logged.join(" | "));
    assert.ok(logged.some((l) => l.startsWith("warning: DeprecationWarning:")), logged.join(" | "));
    assert.ok(logged.some((l) => l.startsWith("internal error: Error: boom in spawn\n    at ")), "the stack goes to the admin");
  });

  it("the spawn bundle prints only its one line when Node warns in the middle of a session", async () => {
    const r = await bundleSession(false);
    assert.equal(r.stderr, "podspawn: the session service closed the connection\n");
    assert.equal(r.stdout, "");
    assert.equal(r.code, 255);
  });

  it("the spawn bundle turns an uncaught error in a session into one line and status 255, no stack trace", async () => {
    const r = await bundleSession(true);
    assert.equal(r.stderr, `podspawn: ${INTERNAL_ERROR_LINE}\n`);
    assert.equal(r.code, 255);
  });
});

/**
 * The real bundle in a session with a stand-in daemon: a preload makes this account "alice" and
 * points the connection at the test's socket; once connected it does what made Node print before
 * (and throws, if asked), then tells the daemon, which hangs up.
 */
async function bundleSession(crash: boolean): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const path = join(dir, `d${crash ? 1 : 0}.sock`);
  const server = createServer((conn) => {
    let seen = "";
    conn.on("data", (d: Buffer) => {
      seen += d.toString("latin1");
      if (seen.includes("NOISE-DONE")) conn.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const preload = join(dir, `session${crash ? 1 : 0}.cjs`);
  writeFileSync(
    preload,
    `const net = require("node:net");
const os = require("node:os");
os.userInfo = () => ({ username: "alice", uid: 1000, gid: 1000, shell: "/bin/sh", homedir: "/" });
const connect = net.connect;
net.connect = () => {
  const s = connect(${JSON.stringify(path)});
  s.once("connect", () => setImmediate(() => {
    ${NOISE}
    ${crash ? 'throw new Error("boom");' : 's.write("NOISE-DONE");'}
  }));
  return s;
};
`,
  );
  try {
    return await run(["--require", preload, bundle, "--user", "alice"], { PODSPAWN_INSTANCE: "podspawn-pstnone" });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
