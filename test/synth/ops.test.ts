import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { SpawnSyncReturns } from "node:child_process";
import { validateFleetManifest } from "../../agent/src/core/fleet/fleet-manifest.js";
import { manifestFromOutputs } from "../../infra/src/ops/outputs-to-manifest.js";
import { preflight, PreflightError, type Run } from "../../infra/src/ops/tools.js";
import { SAMPLE_HOST_KEY } from "./fixtures.js";

const manifest = { version: 1, fleet: "acme", domain: "pod", nodes: [{ name: "n1", address: "n1.f.acme.test", port: 22, hostKeys: [SAMPLE_HOST_KEY] }] };
const runs = (status: number | null, error?: Error): Run => () => ({ status, error, stdout: "", stderr: "", pid: 1, output: [], signal: null }) as SpawnSyncReturns<string>;

describe("outputs-to-manifest", () => {
  it("extracts and validates the manifest from a cdktf outputs file, stamping generatedAt", () => {
    for (const shape of [{ fleet_manifest: JSON.stringify(manifest) }, { manifest: { fleet_manifest: JSON.stringify(manifest) } }]) {
      const text = manifestFromOutputs(JSON.stringify({ "aws-prod": shape }), "aws-prod", new Date("2025-01-02T03:04:05.678Z"));
      assert.deepEqual(validateFleetManifest(JSON.parse(text)), { ...manifest, generatedAt: "2025-01-02T03:04:05Z" });
    }
  });

  it("says which stack or output is missing, and refuses an invalid manifest", () => {
    assert.throws(() => manifestFromOutputs("{}", "aws-prod"), /"aws-prod" has no outputs/);
    assert.throws(() => manifestFromOutputs(JSON.stringify({ s: { other: 1 } }), "s"), /no fleet_manifest output/);
    assert.throws(() => manifestFromOutputs(JSON.stringify({ s: { fleet_manifest: JSON.stringify({ ...manifest, nodes: [] }) } }), "s"), /nodes: is empty/);
  });
});

describe("deploy/diff preflight", () => {
  it("fails clearly without terraform", () => {
    assert.throws(() => preflight(runs(null, new Error("ENOENT")), ["local-dev"], {}), (e: unknown) => e instanceof PreflightError && /terraform not found/.test(e.message));
  });
  it("requires AWS credentials only for aws-* stacks", () => {
    assert.throws(() => preflight(runs(0), ["aws-prod"], {}), /no AWS credentials/);
    assert.doesNotThrow(() => preflight(runs(0), ["local-dev"], {}));
    assert.doesNotThrow(() => preflight(runs(0), ["aws-prod"], { AWS_PROFILE: "ci" }));
  });
  it("requires a stack name", () => {
    assert.throws(() => preflight(runs(0), [], {}), /at least one stack/);
  });
});
