import { InputError } from "../errors.js";
import type { Layout } from "./layout.js";

/** The bundles `podspawn install` places in `layout.libDir`, by the name the wrapper dispatches on. */
export const BUNDLE_FILES = ["podspawn.cjs", "spawn.cjs", "auth-keys.cjs"] as const;

const SAFE_PATH = /^\/[A-Za-z0-9._/+-]+$/;

/**
 * The root-owned `layout.command` that sshd runs. sshd gives it PATH=/usr/bin:/bin:/usr/sbin:/sbin,
 * so node is named by the absolute path found at install time; the instance is pinned here because
 * the login user's environment never reaches it. `spawn` and `auth-keys` go to their own tiny
 * bundles (one Node start each, nothing heavy loaded); everything else to the full CLI.
 */
export function renderWrapper(layout: Layout, nodePath: string): string {
  if (!SAFE_PATH.test(nodePath) || nodePath.includes("/../") || nodePath.endsWith("/..")) {
    throw new InputError("--node", `${JSON.stringify(nodePath)} must be an absolute path of letters, digits and ._/+-`, "e.g. /usr/bin/node");
  }
  const lib = layout.libDir;
  return [
    "#!/bin/sh",
    "# Written by `podspawn install`; re-run it instead of editing this file.",
    `export PODSPAWN_INSTANCE=${layout.instance}`,
    'case "$1" in',
    `  spawn) shift; exec ${nodePath} ${lib}/spawn.cjs "$@" ;;`,
    `  auth-keys) shift; exec ${nodePath} ${lib}/auth-keys.cjs "$@" ;;`,
    `  *) exec ${nodePath} ${lib}/podspawn.cjs "$@" ;;`,
    "esac",
    "",
  ].join("\n");
}
