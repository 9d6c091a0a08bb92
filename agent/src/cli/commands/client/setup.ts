import type { Command } from "../../command.js";
import { makeClientSetupCommand, type ClientSetupDeps } from "./client-setup.js";

/** The reference system's name for client-setup: the same declaration, flags and code. */
export function makeSetupCommand(deps: ClientSetupDeps = {}): Command {
  return makeClientSetupCommand(deps, "setup", "the same as client-setup (the reference system's name for it)");
}

export const setupCommand: Command = makeSetupCommand();
