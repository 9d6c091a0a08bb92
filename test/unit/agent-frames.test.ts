import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { agentDataParts, encodeAgentControl, MAX_AGENT_DATA, parseAgentFrame, type AgentFrameType } from "../../agent/src/core/protocol/agent-frames.js";
import { FrameDecoder, FrameType, frameHeader, MAX_AGENT_FRAME_PAYLOAD } from "../../agent/src/core/protocol/frames.js";

describe("agent frames", () => {
  it("AgentOpen and AgentClose are a 5-byte header and the id as a big-endian u32", () => {
    assert.deepEqual([...encodeAgentControl(FrameType.AgentOpen, 0x01020304)], [0x21, 0, 0, 0, 4, 1, 2, 3, 4]);
    assert.deepEqual([...encodeAgentControl(FrameType.AgentClose, 7)], [0x23, 0, 0, 0, 4, 0, 0, 0, 7]);
  });

  it("round-trips any data through the decoder, in frames of at most MAX_AGENT_DATA bytes, however it is chunked", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 1, max: 3 * MAX_AGENT_DATA }), fc.integer({ min: 1, max: 70_000 }), (id, size, step) => {
        const data = Buffer.alloc(size, id & 0xff);
        const wire = Buffer.concat(agentDataParts(id, data));
        const decoder = new FrameDecoder();
        const frames = [];
        for (let off = 0; off < wire.length; off += step) frames.push(...decoder.push(wire.subarray(off, off + step)));
        assert.equal(frames.length, Math.ceil(size / MAX_AGENT_DATA));
        const parsed = frames.map((f) => {
          assert.equal(f.type, FrameType.AgentData);
          assert.ok(f.payload.length <= MAX_AGENT_FRAME_PAYLOAD);
          return parseAgentFrame(FrameType.AgentData, f.payload);
        });
        assert.ok(parsed.every((p) => p.id === id));
        assert.ok(Buffer.concat(parsed.map((p) => p.data)).equals(data));
      }),
      { numRuns: 40 },
    );
  });

  it("the decoder refuses an agent frame larger than the agent bound, though far below the general one", () => {
    for (const type of [FrameType.AgentOpen, FrameType.AgentData, FrameType.AgentClose]) {
      const header = frameHeader(FrameType.Stdout, MAX_AGENT_FRAME_PAYLOAD + 1);
      header.writeUInt8(type, 0);
      assert.throws(() => new FrameDecoder().push(header), /exceeds 65540/);
      // A stdout frame of the same size is fine.
      assert.doesNotThrow(() => new FrameDecoder().push(frameHeader(FrameType.Stdout, MAX_AGENT_FRAME_PAYLOAD + 1)));
    }
  });

  it("refuses a payload with no room for an id, and an open/close with anything after the id", () => {
    for (const type of [FrameType.AgentOpen, FrameType.AgentData, FrameType.AgentClose] as AgentFrameType[]) {
      assert.throws(() => parseAgentFrame(type, Buffer.alloc(3)), /no channel id/);
    }
    assert.throws(() => parseAgentFrame(FrameType.AgentOpen, Buffer.alloc(5)), /expected 4/);
    assert.throws(() => parseAgentFrame(FrameType.AgentClose, Buffer.alloc(6)), /expected 4/);
    assert.deepEqual(parseAgentFrame(FrameType.AgentData, Buffer.from([0, 0, 0, 9])), { id: 9, data: Buffer.alloc(0) });
  });

  it("refuses an id that is not a u32", () => {
    for (const id of [-1, 2 ** 32, 1.5]) assert.throws(() => encodeAgentControl(FrameType.AgentOpen, id), /not a u32/);
  });
});
