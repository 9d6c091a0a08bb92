// Entry of the hot-path spawn bundle (sshd's forced command). Only this file ends the process:
// exiting explicitly is what lets a session end while stdin (a pipe from sshd) is still open.
import { layoutFromEnv } from "../core/host/layout.js";
import { runSpawn } from "../spawn/client.js";
import { keepStderrClean, syslog } from "../spawn/diagnostics.js";

const diagnose = syslog();
const exit = (code: number): never => process.exit(code);
const crash = keepStderrClean(process.stderr, diagnose, exit);

runSpawn(process.argv.slice(2), layoutFromEnv(), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, diagnose }).then(exit, crash);
