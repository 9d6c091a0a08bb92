import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseTunnelRequest, tunnelCommand } from "../../agent/src/core/protocol/tunnel-request.js";

describe("parseTunnelRequest", () => {
  it("reads the port of `podspawn-tunnel PORT`", () => {
    assert.equal(parseTunnelRequest("podspawn-tunnel 8080"), 8080);
    assert.equal(parseTunnelRequest(tunnelCommand(3000)), 3000);
  });

  it("accepts the edge ports 1 and 65535", () => {
    assert.equal(parseTunnelRequest("podspawn-tunnel 1"), 1);
    assert.equal(parseTunnelRequest("podspawn-tunnel 65535"), 65535);
  });

  it("treats anything else as an ordinary command (null)", () => {
    for (const command of [
      null,
      "",
      "podspawn-tunnel",
      "podspawn-tunnel 0",
      "podspawn-tunnel 65536",
      "podspawn-tunnel 99999",
      "podspawn-tunnel 08080",
      "podspawn-tunnel 8080 extra",
      "podspawn-tunnel  8080",
      " podspawn-tunnel 8080",
      "podspawn-tunnel 8080 ",
      "podspawn-tunnel\t8080",
      "podspawn-tunnel 8080\n",
      "podspawn-tunnel -1",
      "podspawn-tunnel 80.5",
      "podspawn-tunnel 0x50",
      "podspawn-tunnel 127.0.0.1:80",
      "PODSPAWN-TUNNEL 80",
      "echo podspawn-tunnel 80",
    ]) {
      assert.equal(parseTunnelRequest(command), null, JSON.stringify(command));
    }
  });
});
