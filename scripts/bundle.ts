/**
 * Bundles the agent into single files that run on a host with only `node` installed:
 *   podspawn.js   the full CLI and the daemon (dockerode, yaml)
 *   spawn.js      the forced command: net, tty, signals only (hot path, one Node start per login)
 *   auth-keys.js  the AuthorizedKeysCommand: fs only (runs twice per offered key)
 *   build-image.mjs  scripts/build-image (ESM: it finds its own path through import.meta), the
 *                image kit a fleet node builds its default environment image with
 * The hot-path bundles are checked to not pull in heavy modules: that is the latency budget.
 */
import { build, type Plugin } from "esbuild";
import { mkdir, readFile } from "node:fs/promises";
import { builtinModules } from "node:module";
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

/**
 * ssh2 (via docker-modem) tries two optional native modules we never use (unix sockets only).
 * Left external, `require("cpu-features")` would make Node search node_modules in every ancestor
 * of the install dir, $HOME/.node_modules and the global folders: a module planted in any of them
 * ran as root in the daemon. Each becomes a stub that throws, exactly as when it is not installed.
 */
const NATIVE_OPTIONAL = /^(cpu-features|\.\/crypto\/build\/Release\/sshcrypto\.node)$/;
const stubNativeOptional: Plugin = {
  name: "stub-native-optional",
  setup(b) {
    b.onResolve({ filter: NATIVE_OPTIONAL }, (args) => ({ path: args.path, namespace: "native-stub" }));
    b.onLoad({ filter: /.*/, namespace: "native-stub" }, (args) => ({
      contents: `throw Object.assign(new Error(${JSON.stringify(`${args.path} is not bundled`)}), { code: "MODULE_NOT_FOUND" });`,
      loader: "js",
    }));
  },
};

const BUILTIN = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

/**
 * Every `require("x")` left in a bundle that is not a Node built-in: it would be looked up on the
 * host. A member call (`globalThis.require(...)`, zx's Deno-only branch) is not Node's require.
 */
function foreignRequires(code: string): string[] {
  const names = [...code.matchAll(/(?<![.\w$])require\(\s*(["'`])([^"'`]+)\1\s*\)/g)].map((m) => m[2] as string);
  return [...new Set(names.filter((n) => !BUILTIN.has(n)))];
}

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
      plugins: [stubNativeOptional],
      logLevel: "warning",
    });
    if (name !== "podspawn") {
      const inputs = Object.keys(result.metafile.inputs);
      const heavy = inputs.filter((p) => HEAVY.some((h) => p.includes(`node_modules/${h}/`)));
      if (heavy.length > 0) throw new Error(`${name} bundle pulls in heavy modules: ${heavy.slice(0, 5).join(", ")}`);
    }
    const code = await readFile(join(outdir, `${name}.cjs`), "utf8");
    const foreign = foreignRequires(code);
    if (foreign.length > 0) throw new Error(`${name} bundle requires modules from outside itself (Node would search the host for them): ${foreign.join(", ")}`);
    const size = Buffer.byteLength(code);
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
    // It runs as root on a node too: the same stubs, and the same check below.
    plugins: [stubNativeOptional],
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
  const kit = await readFile(join(outdir, "build-image.mjs"), "utf8");
  const kitForeign = foreignRequires(kit);
  if (kitForeign.length > 0) throw new Error(`build-image.mjs requires modules from outside itself (Node would search the host for them): ${kitForeign.join(", ")}`);
  process.stderr.write(`bundle build-image.mjs ${(Buffer.byteLength(kit) / 1024).toFixed(1)} KiB\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bundle: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
