/**
 * The runc gate over real ssh, on this machine's runc (Debian 12's 1.1.5+ds1-1+deb12u1: the
 * escapes through images are open, none a session can use). Without accepting them, a project
 * environment is refused in one line before anything is built or created, while the default
 * environment runs; accepting them by id (the e2e config does) lets projects run again.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { RUNC_PROJECT_REFUSAL } from "../../agent/src/daemon/runc-gate.js";
import { DEFAULT_TEST_CONFIG, INSTANCE, startNode, type NodeHandle } from "./harness.js";

const USER = "e2e-runc";
let node: NodeHandle;
const project = (name: string): string[] => ["-o", `SetEnv=PODSPAWN_PROJECT=${name}`];
const NOT_ACCEPTED = DEFAULT_TEST_CONFIG.replace(/^engine:\n {2}accept_runc_advisories: .*\n/m, "");

before(async () => {
  assert.notEqual(NOT_ACCEPTED, DEFAULT_TEST_CONFIG, "the e2e config accepts the advisories this test takes away");
  node = await startNode([USER]);
  // Projects with a Podfile of their own (an author's image): the gate's business. Nothing to
  // build (no packages): the plan runs the base as it is.
  for (const name of ["web", "api"]) {
    const file = join(node.clientDir, `${name}.yaml`);
    await writeFile(file, `name: ${name}\nbase: podspawn/default:bookworm\n`);
    const r = await node.podspawn(["add-project", name, "--podfile", file]);
    assert.equal(r.code, 0, r.stderr);
  }
});
after(async () => {
  await node?.writeConfig(DEFAULT_TEST_CONFIG).catch(() => undefined);
  await node?.stop();
});

describe("runc advisories", () => {
  it("with the image-reach advisories accepted, a project environment runs", async () => {
    const r = await node.ssh(USER, [...project("web"), "hostname"]);
    assert.equal(r.stdout, "web\n", r.stderr);
  });

  it("without them, a project login is refused in one line, warm or cold, creating nothing; the default environment still runs", async () => {
    await node.writeConfig(NOT_ACCEPTED);
    await node.reload();
    try {
      const before = node.containers();
      for (const name of ["web", "api"]) {
        const r = await node.ssh(USER, [...project(name), "echo should-not-run"]);
        assert.equal(r.stdout, "");
        assert.equal(r.stderr, `podspawn: ${RUNC_PROJECT_REFUSAL}\n`, name);
        assert.equal(r.code, 255);
      }
      assert.ok(!node.containers().some((c) => c.startsWith(`${INSTANCE}.${USER}.api `)), "no container for the cold project");
      assert.deepEqual(node.containers().filter((c) => !before.includes(c)), []);
      const d = await node.ssh(USER, ["echo default-runs"]);
      assert.equal(d.stdout, "default-runs\n", d.stderr);
    } finally {
      await node.writeConfig(DEFAULT_TEST_CONFIG);
      await node.reload();
    }
    const again = await node.ssh(USER, [...project("api"), "hostname"]);
    assert.equal(again.stdout, "api\n", again.stderr);
  });
});
