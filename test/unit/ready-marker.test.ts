import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseReadyMarker, READY_MARKER_PATH, renderReadyMarker } from "../../agent/src/core/container/ready-marker.js";

const ACCOUNT = { name: "alice", uid: 70000, gid: 70000, home: "/home/alice", shell: "/bin/bash" };
const ID = "4f1c0ffee";

describe("ready marker", () => {
  it("lives in the container's /etc, outside any home volume", () => {
    assert.equal(READY_MARKER_PATH, "/etc/podspawn/ready");
  });

  it("renders one JSON line that gives the account back for the same container and user", () => {
    const text = renderReadyMarker(ID, ACCOUNT);
    assert.equal(text, '{"v":1,"container":"4f1c0ffee","account":{"name":"alice","uid":70000,"gid":70000,"home":"/home/alice","shell":"/bin/bash"}}\n');
    assert.deepEqual(parseReadyMarker(text, ID, "alice"), ACCOUNT);
  });

  it("does not count for another container (a marker baked into an image by docker commit)", () => {
    assert.equal(parseReadyMarker(renderReadyMarker("another", ACCOUNT), ID, "alice"), null);
  });

  it("does not count for another user", () => {
    assert.equal(parseReadyMarker(renderReadyMarker(ID, ACCOUNT), ID, "bob"), null);
  });

  it("does not count when it is not JSON, empty, or another version", () => {
    assert.equal(parseReadyMarker("", ID, "alice"), null);
    assert.equal(parseReadyMarker("ready\n", ID, "alice"), null);
    assert.equal(parseReadyMarker("null", ID, "alice"), null);
    assert.equal(parseReadyMarker(JSON.stringify({ v: 2, container: ID, account: ACCOUNT }), ID, "alice"), null);
  });

  it("does not count with an account that could not be run as", () => {
    const bad: Record<string, unknown>[] = [
      { ...ACCOUNT, uid: -1 },
      { ...ACCOUNT, uid: 1.5 },
      { ...ACCOUNT, gid: "70000" },
      { ...ACCOUNT, uid: 2 ** 31 },
      { ...ACCOUNT, home: "home/alice" },
      { ...ACCOUNT, home: "/home/alice\n" },
      { ...ACCOUNT, shell: "/bin/sh:x" },
      { ...ACCOUNT, shell: undefined },
    ];
    for (const account of bad) assert.equal(parseReadyMarker(JSON.stringify({ v: 1, container: ID, account }), ID, "alice"), null, JSON.stringify(account));
    assert.equal(parseReadyMarker(JSON.stringify({ v: 1, container: ID }), ID, "alice"), null);
  });

  it("keeps only the account fields, whatever else the file holds", () => {
    const text = JSON.stringify({ v: 1, container: ID, account: { ...ACCOUNT, extra: "x" }, note: 1 });
    assert.deepEqual(parseReadyMarker(text, ID, "alice"), ACCOUNT);
  });
});
