import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { agentSocketName, AGENT_SOCKET_DIR_CHAIN, unsafeAgentDir } from "../../agent/src/core/container/agent-socket.js";
import { parseSessionRequest } from "../../agent/src/core/protocol/session-request.js";

const dir = { isDirectory: true, isSymlink: false, uid: 0, mode: 0o40755 };

describe("the agent socket's place in the container", () => {
  it("is a chain of directories down to /run/podspawn/agent", () => {
    assert.deepEqual(AGENT_SOCKET_DIR_CHAIN, ["/run", "/run/podspawn", "/run/podspawn/agent"]);
  });

  it("accepts a real root-owned directory nobody else may write", () => {
    assert.equal(unsafeAgentDir("/run", dir), null);
    assert.equal(unsafeAgentDir("/run", { ...dir, mode: 0o40711 }), null);
  });

  it("refuses a symlink, a non-directory, another owner, and group or world write (each named)", () => {
    assert.match(unsafeAgentDir("/run", { ...dir, isSymlink: true, isDirectory: false }) ?? "", /\/run is a symlink/);
    assert.match(unsafeAgentDir("/run", { ...dir, isDirectory: false }) ?? "", /not a directory/);
    assert.match(unsafeAgentDir("/run/podspawn", { ...dir, uid: 70000 }) ?? "", /owned by uid 70000, not root/);
    assert.match(unsafeAgentDir("/run", { ...dir, mode: 0o41777 }) ?? "", /writable by group or others \(mode 1777\)/);
    assert.match(unsafeAgentDir("/run", { ...dir, mode: 0o40775 }) ?? "", /writable by group or others/);
  });

  it("names each session's socket from its id and a random tag, and nothing else", () => {
    assert.equal(agentSocketName(12, "0123456789abcdef"), "s12-0123456789abcdef.sock");
    assert.throws(() => agentSocketName(0, "0123456789abcdef"), /positive integer/);
    assert.throws(() => agentSocketName(1, "../../etc"), /hex digits/);
  });
});

describe("HELLO's agent flag", () => {
  it("is true only for a literal true; the daemon takes no path from the client", () => {
    assert.equal(parseSessionRequest({ v: 1, agent: true }).agent, true);
    for (const agent of [undefined, false, "true", 1, "/tmp/ssh-x/agent.1"]) assert.equal(parseSessionRequest({ v: 1, agent }).agent, false, String(agent));
    assert.equal("agentPath" in parseSessionRequest({ v: 1, agent: true, agentPath: "/var/run/docker.sock" }), false);
  });
});
