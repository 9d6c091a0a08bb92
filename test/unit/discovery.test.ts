import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { discoverFleet } from "../../agent/src/adapters/fleet/discovery.js";
import { makeClientSetupCommand } from "../../agent/src/cli/commands/client/client-setup.js";
import { InputError, UserFacingError } from "../../agent/src/core/errors.js";
import { discoveryName, parseDiscoveryRecords } from "../../agent/src/core/fleet/discovery-record.js";
import { layoutFor } from "../../agent/src/core/host/layout.js";
import { freshEd25519 } from "./helpers/test-keys.js";

class Sink extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

const URL_ = "https://acme-manifest.s3.eu-central-1.amazonaws.com/fleet.json";

describe("discovery records", () => {
  it("finds the manifest URL in the v=podspawn1 record, joining a record's strings", () => {
    const r = parseDiscoveryRecords([["google-site-verification=x"], ["v=podspawn1 fleet=acme ", `manifest=${URL_}`]], "_podspawn.f.acme.test");
    assert.deepEqual(r, { fleet: "acme", manifestUrl: URL_ });
  });

  it("refuses what it cannot trust or use, naming the TXT name", () => {
    const n = "_podspawn.f.acme.test";
    assert.throws(() => parseDiscoveryRecords([], n), (e: unknown) => e instanceof InputError && e.field === n && /has no v=podspawn1 TXT record/.test(e.problem));
    assert.throws(() => parseDiscoveryRecords([["v=podspawn1 manifest=http://acme.test/fleet.json"]], n), /is not https/);
    assert.throws(() => parseDiscoveryRecords([["v=podspawn1 fleet=a"]], n), /names no manifest/);
    assert.throws(() => parseDiscoveryRecords([[`v=podspawn1 manifest=${URL_}`], [`v=podspawn1 manifest=${URL_}`]], n), /has 2 v=podspawn1 TXT records/);
  });

  it("looks up _podspawn.<domain> for a plain DNS name only", () => {
    assert.equal(discoveryName("Fleet.Acme.Test."), "_podspawn.fleet.acme.test");
    for (const bad of ["acme", "a b.test", "x;y.test", "-a.test"]) assert.throws(() => discoveryName(bad), InputError, bad);
  });

  it("turns a failed lookup into one line naming it", async () => {
    const fail = async (): Promise<string[][]> => Promise.reject(Object.assign(new Error("queryTxt ENOTFOUND"), { code: "ENOTFOUND" }));
    await assert.rejects(discoverFleet("f.acme.test", fail), (e: unknown) => e instanceof UserFacingError && e.message === "cannot discover a fleet at f.acme.test: looking up TXT _podspawn.f.acme.test failed (ENOTFOUND)");
  });
});

describe("client-setup --discover", () => {
  const key = freshEd25519().split(" ").slice(0, 2).join(" ");
  const manifest = { version: 1, fleet: "acme", domain: "pod", nodes: [{ name: "n1", address: "n1.f.acme.test", port: 22, hostKeys: [key] }] };

  async function run(args: string[], txt: string[][], fleetInManifest = "acme") {
    const home = await mkdtemp(join(tmpdir(), "podspawn-discover-"));
    const asked: string[] = [];
    const stdout = new Sink();
    const stderr = new Sink();
    const cmd = makeClientSetupCommand({
      program: () => ["/usr/bin/node", "/opt/podspawn.cjs"],
      resolveTxt: async (name) => (asked.push(name), txt),
      fetch: async (url) => (asked.push(url), new Response(JSON.stringify({ ...manifest, fleet: fleetInManifest }), { status: 200 })),
    });
    try {
      const code = await cmd.run(args, { stdout, stderr, env: { HOME: home }, layout: layoutFor() });
      const config = await readFile(join(home, ".ssh", "podspawn", "config"), "utf8").catch(() => null);
      return { code, stdout: stdout.text, stderr: stderr.text, asked, config };
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }

  it("resolves the TXT record, fetches the https manifest it names, and points the ProxyCommand at that URL", async () => {
    const r = await run(["--discover", "f.acme.test", "--project", "work"], [[`v=podspawn1 fleet=acme manifest=${URL_}`]]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.asked, ["_podspawn.f.acme.test", URL_]);
    assert.match(r.stderr, new RegExp(`^discovered fleet acme at f\\.acme\\.test: manifest ${URL_.replace(/\./g, "\\.")}$`, "m"));
    assert.match(r.config ?? "", new RegExp(`connect --manifest ${URL_.replace(/\./g, "\\.")} '%r' '%h' %p`));
  });

  it("writes nothing when the manifest is for another fleet than the record says", async () => {
    await assert.rejects(run(["--discover", "f.acme.test"], [[`v=podspawn1 fleet=acme manifest=${URL_}`]], "other"), /the TXT record of f\.acme\.test names fleet acme, but its manifest is for fleet other; nothing written/);
  });

  it("refuses --discover together with --manifest", async () => {
    await assert.rejects(run(["--discover", "f.acme.test", "--manifest", "/x.json"], []), /--discover: given with --manifest/);
  });
});
