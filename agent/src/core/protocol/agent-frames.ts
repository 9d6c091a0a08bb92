import { FrameType, frameHeader, MAX_AGENT_FRAME_PAYLOAD } from "./frames.js";

/**
 * One ssh-agent connection relayed over a session, as frames: `AgentOpen id` (daemon -> client: a
 * process in the container connected), `AgentData id bytes` (either way), `AgentClose id` (either
 * way: that side's connection is gone). The id is a u32 the daemon picks; it is never reused within
 * a session, so a frame that crosses a close cannot reach a newer connection.
 */
export type AgentFrameType = typeof FrameType.AgentOpen | typeof FrameType.AgentData | typeof FrameType.AgentClose;

/** How much agent data one frame carries, at most. */
export const MAX_AGENT_DATA = MAX_AGENT_FRAME_PAYLOAD - 4;

export interface AgentFrame {
  readonly id: number;
  /** Empty for AgentOpen and AgentClose. */
  readonly data: Buffer;
}

const EMPTY = Buffer.alloc(0);

export function isAgentFrameType(type: number): type is AgentFrameType {
  return type === FrameType.AgentOpen || type === FrameType.AgentData || type === FrameType.AgentClose;
}

function idBytes(id: number): Buffer {
  if (!Number.isInteger(id) || id < 0 || id > 0xffff_ffff) throw new Error(`agent channel id ${id} is not a u32`);
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(id, 0);
  return b;
}

/** AgentOpen or AgentClose: header and id in one buffer. */
export function encodeAgentControl(type: typeof FrameType.AgentOpen | typeof FrameType.AgentClose, id: number): Buffer {
  return Buffer.concat([frameHeader(type, 4), idBytes(id)]);
}

/**
 * Data of any size as AgentData frames of at most MAX_AGENT_DATA bytes each, as
 * [header, id, payload, ...]: the payloads are views of `data`. Write them corked.
 */
export function agentDataParts(id: number, data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  const idb = idBytes(id);
  for (let off = 0; off < data.length; off += MAX_AGENT_DATA) {
    const piece = data.subarray(off, off + MAX_AGENT_DATA);
    out.push(frameHeader(FrameType.AgentData, 4 + piece.length), idb, piece);
  }
  return out;
}

/** The id and data of a decoded agent frame; throws on a payload too short to hold an id. */
export function parseAgentFrame(type: AgentFrameType, payload: Buffer): AgentFrame {
  if (payload.length < 4) throw new Error(`agent frame of ${payload.length} bytes has no channel id`);
  if (type !== FrameType.AgentData && payload.length !== 4) throw new Error(`agent open/close frame of ${payload.length} bytes (expected 4)`);
  return { id: payload.readUInt32BE(0), data: payload.length === 4 ? EMPTY : payload.subarray(4) };
}
