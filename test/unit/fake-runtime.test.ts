import { FakeRuntime } from "../../agent/src/adapters/fake/fake-runtime.js";
import { runtimeConformance } from "../conformance/runtime-conformance.js";

const image = new Map([
  ["/etc/passwd", Buffer.from("root:x:0:0:root:/root:/bin/sh\n")],
  ["/etc/group", Buffer.from("root:x:0:\n")],
  ["/bin/sh", Buffer.from("")],
]);
const runtime = new FakeRuntime(new Map([["podspawn/fake:test", image]]));

/** Enough turns for the fake's in-process producer to run as far as nothing holds it back. */
async function settle(): Promise<void> {
  for (let i = 0; i < 200; i++) await new Promise((r) => setImmediate(r));
}

runtimeConformance("FakeRuntime", () => ({ runtime, image: "podspawn/fake:test", settle }));
