import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { BuildStreamParser, MAX_LINE_CHARS, MAX_MESSAGE_BYTES } from "../../agent/src/adapters/docker/build-stream.js";
import { BUILD_ERROR_TAIL_LINES, type BuildProgress } from "../../agent/src/core/ports/image-builder.js";

// What engine 20.10's classic builder sent for `FROM busybox / RUN echo hello; echo err >&2 / RUN exit 3`
// (recorded from the real engine; \r\n-separated messages, stream text split mid-line).
const RECORDED = [
  '{"stream":"Step 1/3 : FROM podspawn/busybox:test"}',
  '{"stream":"\\n"}',
  '{"stream":" ---\\u003e 0004c79e21ee\\n"}',
  '{"stream":"Step 2/3 : RUN echo hello; echo err \\u003e\\u00262"}',
  '{"stream":"\\n"}',
  '{"stream":" ---\\u003e Running in b87363fbbeec\\n"}',
  '{"stream":"\\u001b[91merr\\n\\u001b[0m"}',
  '{"stream":"hello\\n"}',
  '{"stream":"Removing intermediate container b87363fbbeec\\n"}',
  '{"stream":" ---\\u003e 824c67d4cd78\\n"}',
  '{"stream":"Step 3/3 : RUN exit 3"}',
  '{"stream":"\\n"}',
  '{"stream":" ---\\u003e Running in 9504a61f7f71\\n"}',
  '{"stream":"Removing intermediate container 9504a61f7f71\\n"}',
  '{"errorDetail":{"code":3,"message":"The command \'/bin/sh -c exit 3\' returned a non-zero code: 3"},"error":"The command \'/bin/sh -c exit 3\' returned a non-zero code: 3"}',
].map((m) => `${m}\r\n`).join("");

function parse(chunks: readonly string[]): { parser: BuildStreamParser; events: BuildProgress[] } {
  const events: BuildProgress[] = [];
  const parser = new BuildStreamParser((e) => events.push(e));
  for (const c of chunks) parser.push(Buffer.from(c));
  parser.end();
  return { parser, events };
}

describe("BuildStreamParser", () => {
  it("turns the engine's messages into steps and output lines, colour codes gone", () => {
    const { events } = parse([RECORDED]);
    assert.deepEqual(events, [
      { kind: "step", step: 1, total: 3, instruction: "FROM podspawn/busybox:test" },
      { kind: "output", line: " ---> 0004c79e21ee" },
      { kind: "step", step: 2, total: 3, instruction: "RUN echo hello; echo err >&2" },
      { kind: "output", line: " ---> Running in b87363fbbeec" },
      { kind: "output", line: "err" },
      { kind: "output", line: "hello" },
      { kind: "output", line: "Removing intermediate container b87363fbbeec" },
      { kind: "output", line: " ---> 824c67d4cd78" },
      { kind: "step", step: 3, total: 3, instruction: "RUN exit 3" },
      { kind: "output", line: " ---> Running in 9504a61f7f71" },
      { kind: "output", line: "Removing intermediate container 9504a61f7f71" },
      { kind: "output", line: "The command '/bin/sh -c exit 3' returned a non-zero code: 3" },
    ]);
  });

  it("keeps the failing step, the engine's error and that step's own lines (not the builder's chatter)", () => {
    const { parser } = parse([RECORDED]);
    assert.deepEqual(parser.step, { step: 3, total: 3, instruction: "RUN exit 3" });
    assert.equal(parser.error, "The command '/bin/sh -c exit 3' returned a non-zero code: 3");
    assert.deepEqual(parser.tail, []);
    const two = parse([RECORDED.slice(0, RECORDED.indexOf('{"stream":"Removing intermediate container b87'))]);
    assert.deepEqual(two.parser.tail, ["err", "hello"]);
    assert.equal(two.parser.error, null);
  });

  it("gives the same events however the bytes are split", () => {
    const whole = parse([RECORDED]).events;
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: RECORDED.length - 1 }), { maxLength: 30 }), (cuts) => {
        const at = [0, ...[...cuts].sort((a, b) => a - b), RECORDED.length];
        const chunks = at.slice(1).map((end, i) => RECORDED.slice(at[i], end));
        assert.deepEqual(parse(chunks).events, whole);
      }),
    );
  });

  it("keeps only the last state of a line that a progress bar rewrote with \\r", () => {
    const { events } = parse([JSON.stringify({ stream: "Step 1/1 : RUN fetch\n" }) + "\n", JSON.stringify({ stream: "10%\r50%\r100% done\n" }) + "\n"]);
    assert.deepEqual(events[1], { kind: "output", line: "100% done" });
  });

  it("keeps at most BUILD_ERROR_TAIL_LINES lines of the running step", () => {
    const lines = Array.from({ length: BUILD_ERROR_TAIL_LINES + 15 }, (_, i) => `line ${i}`);
    const { parser } = parse([JSON.stringify({ stream: "Step 1/1 : RUN chatty\n" }) + "\n", ...lines.map((l) => JSON.stringify({ stream: `${l}\n` }) + "\n")]);
    assert.deepEqual(parser.tail, lines.slice(-BUILD_ERROR_TAIL_LINES));
  });

  it("cuts an overlong output line and drops a message larger than any the engine writes", () => {
    const long = "x".repeat(MAX_LINE_CHARS + 100);
    const cut = parse([JSON.stringify({ stream: `${long}\n` }) + "\n"]);
    assert.deepEqual(cut.events, [{ kind: "output", line: `${"x".repeat(MAX_LINE_CHARS)}...` }]);
    const events: BuildProgress[] = [];
    const parser = new BuildStreamParser((e) => events.push(e));
    parser.push(`{"stream":"${"y".repeat(MAX_MESSAGE_BYTES + 10)}`);
    parser.push('"}\n{"stream":"after\\n"}\n');
    parser.end();
    assert.deepEqual(events, [{ kind: "output", line: "after" }], "the oversize message is gone, the next one is read");
  });

  it("ignores lines that are not JSON and messages it does not know (status, aux)", () => {
    const { events, parser } = parse(["garbage\n", '{"aux":{"ID":"sha256:abc"}}\n', '{"status":"Downloading"}\n', '{"stream":"ok\\n"}\n']);
    assert.deepEqual(events, [{ kind: "output", line: "ok" }]);
    assert.equal(parser.error, null);
  });
});
