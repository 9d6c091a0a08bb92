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
 * The bundles require nothing but Node built-ins; still, Node would look a missing module up in
 * $NODE_PATH and $HOME/.node_modules, so those point nowhere a pod user (or anyone) could plant
 * one: NODE_PATH is empty for every entry, HOME is / for the entries that run for sshd and as
 * the root daemon (admin commands keep the admin's HOME: client-setup writes ~/.ssh/config).
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
    "export NODE_PATH=",
    'case "$1" in',
    `  spawn) shift; HOME=/ exec ${nodePath} ${lib}/spawn.cjs "$@" ;;`,
    `  auth-keys) shift; HOME=/ exec ${nodePath} ${lib}/auth-keys.cjs "$@" ;;`,
    `  daemon) HOME=/ exec ${nodePath} ${lib}/podspawn.cjs "$@" ;;`,
    `  *) exec ${nodePath} ${lib}/podspawn.cjs "$@" ;;`,
    "esac",
    "",
  ].join("\n");
}
