// The cdktf app entry (cdktf.json: `node dist/infra/src/main.js`): build the app from config, synth.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildApp } from "./app.js";
import { TARGETS } from "./targets.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
(await buildApp({ targets: TARGETS, root })).synth();
