// Entry of the auth-keys hot-path bundle (AuthorizedKeysCommand). Only this file ends the process.
import { runAuthKeys } from "../auth/auth-keys.js";
import { layoutFromEnv } from "../core/host/layout.js";
import { VERSION_LINE } from "../core/version.js";

function fail(err: unknown): void {
  process.stderr.write(`podspawn auth-keys: internal error: ${String(err)}\n`);
  process.exit(1);
}

// sshd passes %u first: a pod username can never be "--version" (it must start with a letter).
if (process.argv[2] === "--version") {
  process.stdout.write(`${VERSION_LINE}\n`);
} else {
  try {
    runAuthKeys(process.argv.slice(2), layoutFromEnv(), { stdout: process.stdout, stderr: process.stderr }).then(({ code, timedOut }) => {
      process.exitCode = code;
      // A hung read (e.g. a stuck filesystem) would keep the process, and sshd, waiting.
      if (timedOut) process.exit(code);
    }, fail);
  } catch (err) {
    fail(err);
  }
}
