/**
 * Bundles the agent into single files that run on a host with only `node` installed:
 *   podspawn.js   the full CLI and the daemon (dockerode, yaml)
 *   spawn.js      the forced command: net, tty, signals only (hot path, one Node start per login)
 *   auth-keys.js  the AuthorizedKeysCommand: fs only (runs twice per offered key)
 *   build-image.mjs  scripts/build-image (ESM: it finds its own path through import.meta), the
 *                image kit a fleet node builds its default environment image with
 * The hot-path bundles are checked to not pull in heavy modules: that is the latency budget.
 */
import { build } from "esbuild";
import { mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const outdir = join(root, "dist", "bundle");

const entries = {
  podspawn: "agent/src/bin/podspawn.ts",
  spawn: "agent/src/bin/spawn.ts",
  "auth-keys": "agent/src/bin/auth-keys.ts",
} as const;

/** Modules that must never reach a hot-path bundle. */
const HEAVY = ["dockerode", "docker-modem", "yaml", "zod", "ssh2", "zx", "cdktf"];

async function main(): Promise<void> {
  await mkdir(outdir, { recursive: true });
  for (const [name, entry] of Object.entries(entries)) {
    const result = await build({
      entryPoints: [join(root, entry)],
      outfile: join(outdir, `${name}.cjs`),
      bundle: true,
      platform: "node",
      target: "node18",
      format: "cjs",
      minify: name !== "podspawn",
      sourcemap: false,
      legalComments: "none",
      metafile: true,
      // ESM builds first: jsonc-parser's UMD build requires its parts by computed paths, which a
      // bundle cannot resolve (its ESM build imports them plainly).
      mainFields: ["module", "main"],
      // ssh2 (via docker-modem) has optional native parts we never use: unix sockets only.
      external: ["cpu-features", "./crypto/build/Release/sshcrypto.node"],
      logLevel: "warning",
    });
    if (name !== "podspawn") {
      const inputs = Object.keys(result.metafile.inputs);
      const heavy = inputs.filter((p) => HEAVY.some((h) => p.includes(`node_modules/${h}/`)));
      if (heavy.length > 0) throw new Error(`${name} bundle pulls in heavy modules: ${heavy.slice(0, 5).join(", ")}`);
    }
    const size = (await readFile(join(outdir, `${name}.cjs`))).length;
    process.stderr.write(`bundle ${name}.cjs ${(size / 1024).toFixed(1)} KiB\n`);
  }
  await build({
    entryPoints: [join(root, "scripts/build-image.ts")],
    outfile: join(outdir, "build-image.mjs"),
    bundle: true,
    platform: "node",
    target: "node18",
    format: "esm",
    minify: true,
    legalComments: "none",
    // It builds through the daemon's own builder (dockerode): the same module and native choices.
    mainFields: ["module", "main"],
    external: ["cpu-features", "./crypto/build/Release/sshcrypto.node"],
    // zx's and dockerode's CommonJS dependencies call require() and read __dirname (ssh2 locates
    // its optional native part with it); an ESM bundle has neither of its own.
    banner: {
      js: [
        'import { createRequire as __podspawnRequire } from "node:module";',
        'import { fileURLToPath as __podspawnPath } from "node:url";',
        'import { dirname as __podspawnDir } from "node:path";',
        "const require = __podspawnRequire(import.meta.url);",
        "const __filename = __podspawnPath(import.meta.url);",
        "const __dirname = __podspawnDir(__filename);",
      ].join(" "),
    },
    logLevel: "warning",
  });
  process.stderr.write(`bundle build-image.mjs ${((await readFile(join(outdir, "build-image.mjs"))).length / 1024).toFixed(1)} KiB\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bundle: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
