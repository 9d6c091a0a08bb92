import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Testing } from "cdktf";
import { InputError } from "../../agent/src/core/errors.js";
import { validateAwsTarget, validateLocalTarget } from "../../infra/src/config/validate.js";
import { AwsFleetStack } from "../../infra/src/stacks/aws-fleet.js";
import { LocalFleetStack } from "../../infra/src/stacks/local-fleet.js";
import { awsEnv, fakeAgent, GIT, localEnv } from "./fixtures.js";

function says(expected: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof InputError, String(err));
    assert.equal(err.message, expected);
    return true;
  };
}

describe("deploy target validation", () => {
  it("accepts the fixtures' targets", () => {
    validateAwsTarget(awsEnv());
    validateLocalTarget(localEnv());
    validateLocalTarget(localEnv({ nodeCount: 16, basePort: 65535 - 16 }));
  });

  it("refuses names that are not short DNS labels, naming the field", () => {
    assert.throws(() => validateAwsTarget(awsEnv({ environment: "Prod" })), says('environment: "Prod" is not a DNS label (allowed: 1-32 lowercase letters, digits, \'-\')'));
    assert.throws(() => validateAwsTarget(awsEnv({ fleet: "a".repeat(33) })), (err: unknown) => err instanceof InputError && err.field === "fleet");
    assert.throws(() => validateLocalTarget(localEnv({ fleet: "-x" })), (err: unknown) => err instanceof InputError && err.field === "fleet");
    assert.throws(() => validateAwsTarget(awsEnv({ nodes: [{ name: "node-1" }, { name: "n_2" }] })), (err: unknown) => err instanceof InputError && err.field === "nodes[1].name");
  });

  it("refuses no nodes, a node listed twice and a sync interval under 10 s", () => {
    assert.throws(() => validateAwsTarget(awsEnv({ nodes: [] })), says("nodes: is empty (allowed: at least one node)"));
    assert.throws(() => validateAwsTarget(awsEnv({ nodes: [{ name: "a" }, { name: "a" }] })), says('nodes[1].name: "a" appears twice (allowed: unique node names)'));
    assert.throws(() => validateAwsTarget(awsEnv({ syncIntervalSeconds: 9 })), says("syncIntervalSeconds: number 9 is below 10 (allowed: a whole number of seconds, at least 10)"));
    assert.throws(() => validateAwsTarget(awsEnv({ syncIntervalSeconds: 10.5 })), (err: unknown) => err instanceof InputError && err.field === "syncIntervalSeconds");
  });

  it("refuses a local node count outside 1-16 and ports that do not fit", () => {
    for (const nodeCount of [0, 17, 1.5]) assert.throws(() => validateLocalTarget(localEnv({ nodeCount })), (err: unknown) => err instanceof InputError && err.field === "nodeCount");
    assert.throws(() => validateLocalTarget(localEnv({ basePort: 80 })), (err: unknown) => err instanceof InputError && err.field === "basePort");
    assert.throws(() => validateLocalTarget(localEnv({ nodeCount: 2, basePort: 65534 })), says("basePort: 65534 leaves no room for 2 nodes (allowed: 1024-65535 minus the node count)"));
  });

  it("fails the stacks' synthesis", async () => {
    const agent = await fakeAgent();
    assert.throws(() => new AwsFleetStack(Testing.app(), "bad", { env: awsEnv({ syncIntervalSeconds: 5 }), git: GIT, agent }), says("syncIntervalSeconds: number 5 is below 10 (allowed: a whole number of seconds, at least 10)"));
    assert.throws(() => new LocalFleetStack(Testing.app(), "bad", { env: localEnv({ nodeCount: 17 }), git: GIT, agent, imageContext: "/ctx" }), says("nodeCount: number 17 is above 16 (allowed: 1-16)"));
  });
});
