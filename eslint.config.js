// Flat config: recommended rules plus the few that catch real bugs in async daemon code.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** The agent folders that sit above core and support. */
const upperLayers = ["adapters", "daemon", "cli", "admin", "spawn", "auth", "bin"];

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "cdktf.out/**", "infra/.gen/**", "**/*.js", "!eslint.config.js"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // node:test's describe/it return promises the runner itself awaits.
      "@typescript-eslint/no-floating-promises": ["error", { allowForKnownSafeCalls: [{ from: "package", package: "node:test", name: ["describe", "it", "test", "suite", "before", "after", "beforeEach", "afterEach"] }] }],
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: false }],
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-restricted-syntax": ["error", { selector: "CallExpression[callee.object.name='process'][callee.property.name='exit']", message: "Set process.exitCode instead; only entry points may end the process." }],
    },
  },
  // Layering: core decides without I/O, support knows no domain. Each side sees only what is below it.
  {
    files: ["agent/src/core/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", {
        paths: ["fs", "fs/promises", "net", "child_process"].flatMap((m) => [m, `node:${m}`]).map((name) => ({
          name,
          message: "agent/src/core is pure: do the I/O in an adapter (agent/src/adapters) and pass the result in.",
        })),
        patterns: [{
          group: upperLayers.flatMap((dir) => [`**/${dir}`, `**/${dir}/**`]),
          message: "agent/src/core may import only core and support; the layers above depend on it, never the reverse.",
        }],
      }],
    },
  },
  {
    files: ["agent/src/support/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", {
        patterns: [{
          group: ["core", ...upperLayers].flatMap((dir) => [`**/${dir}`, `**/${dir}/**`]),
          message: "agent/src/support holds domain-free helpers: it imports no agent folder but support itself.",
        }],
      }],
    },
  },
  {
    files: ["agent/src/bin/**/*.ts", "scripts/**/*.ts"],
    rules: { "no-restricted-syntax": "off" },
  },
);
