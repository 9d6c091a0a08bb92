import { UserFacingError } from "../core/errors.js";
import type { AdminDeps } from "./deps.js";

export interface Prerequisites {
  readonly keysGid: number;
}

/** The groups and directories `podspawn install` creates; refuse before anything is written. */
export async function checkInstalled(deps: Pick<AdminDeps, "layout" | "accounts" | "registry">): Promise<Prerequisites> {
  const { layout, accounts } = deps;
  const keys = await accounts.getGroup(layout.keysUser);
  const users = await accounts.getGroup(layout.usersGroup);
  const missing: string[] = [];
  if (!keys) missing.push(`group ${layout.keysUser}`);
  if (!users) missing.push(`group ${layout.usersGroup}`);
  missing.push(...(await deps.registry.missingDirs()));
  if (missing.length > 0 || !keys) {
    const flag = layout.instance === "podspawn" ? "" : ` --instance ${layout.instance}`;
    throw new UserFacingError("not-installed", `${layout.instance} is not installed (missing ${missing.join(", ")}); run 'podspawn install${flag}' first`);
  }
  return { keysGid: keys.gid };
}
