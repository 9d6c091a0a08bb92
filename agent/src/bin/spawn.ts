// Entry of the hot-path spawn bundle (sshd's forced command). Only this file ends the process:
// exiting explicitly is what lets a session end while stdin (a pipe from sshd) is still open.
import { layoutFromEnv } from "../core/host/layout.js";
import { VERSION_LINE } from "../core/version.js";
import { runSpawn } from "../spawn/client.js";
import { keepStderrClean, syslog } from "../spawn/diagnostics.js";

const exit = (code: number): never => process.exit(code);

// Only an argv can ask: sshd runs the key line's fixed command, never text the user sent.
if (process.argv[2] === "--version") {
  process.stdout.write(`${VERSION_LINE}\n`, () => exit(0));
} else {
  const diagnose = syslog();
  const crash = keepStderrClean(process.stderr, diagnose, exit);
  runSpawn(process.argv.slice(2), layoutFromEnv(), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, diagnose }).then(exit, crash);
}
