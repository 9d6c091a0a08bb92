// Entry of the hot-path spawn bundle (sshd's forced command). Only this file ends the process:
// exiting explicitly is what lets a session end while stdin (a pipe from sshd) is still open.
import { layoutFromEnv } from "../core/host/layout.js";
import { runSpawn } from "../spawn/client.js";

runSpawn(process.argv.slice(2), layoutFromEnv(), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env }).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`podspawn: internal error: ${String(err)}\n`);
    process.exit(255);
  },
);
