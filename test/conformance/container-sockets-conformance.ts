import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ContainerListener, ContainerSockets, SocketOwner } from "../../agent/src/core/ports/container-sockets.js";

/** One adapter under test, with a way to act from inside its "container". */
export interface SocketsUnderTest {
  readonly sockets: ContainerSockets;
  readonly containerId: string;
  readonly owner: SocketOwner;
  /** Connect to `path` as a process of uid `uid` in the container: "connected" or why not. */
  connectFromInside(path: string, uid: number): Promise<string>;
  /** `<octal mode> <uid>` of `path` as the container sees it, or "missing". */
  statInside(path: string): Promise<string>;
  cleanup(): Promise<void>;
}

/** The contract every ContainerSockets adapter keeps (the Docker one and the unit tests' fake). */
export function socketsConformance(name: string, setup: () => Promise<SocketsUnderTest>): void {
  describe(`${name} (ContainerSockets conformance)`, { timeout: 120_000 }, () => {
    let t: SocketsUnderTest;
    let seq = 0;
    before(async () => {
      t = await setup();
    });
    after(async () => {
      await t?.cleanup();
    });
    const listen = (): Promise<ContainerListener> => t.sockets.listen(t.containerId, `conf${++seq}-0123456789abcdef.sock`, t.owner);

    it("accepts a connection a process of the owner makes inside the container", async () => {
      const l = await listen();
      let accepted = 0;
      l.onConnection((c) => {
        accepted++;
        c.end();
      });
      try {
        assert.equal(await t.connectFromInside(l.path, t.owner.uid), "connected");
        assert.equal(accepted, 1);
      } finally {
        l.close();
      }
    });

    it("makes the socket mode 0600, owned by the owner, so another uid is refused", async () => {
      const l = await listen();
      let accepted = 0;
      l.onConnection((c) => (accepted++, c.end()));
      try {
        assert.equal(await t.statInside(l.path), `600 ${t.owner.uid}`);
        assert.equal(await t.connectFromInside(l.path, t.owner.uid + 1), "EACCES");
        assert.equal(accepted, 0, "the listener, which would accept, saw nothing");
      } finally {
        l.close();
      }
    });

    it("close removes the socket: a later connect finds nothing", async () => {
      const l = await listen();
      l.close();
      for (let i = 0; i < 200 && (await t.statInside(l.path)) !== "missing"; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(await t.statInside(l.path), "missing");
      assert.equal(await t.connectFromInside(l.path, t.owner.uid), "ENOENT");
    });
  });
}
