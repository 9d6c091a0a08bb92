import { VERSION_LINE } from "../../../core/version.js";
import { defineCommand, type Command } from "../../command.js";

export const versionCommand: Command = defineCommand(
  {
    name: "version",
    summary: "print the agent's version (also: podspawn --version)",
    flags: {},
    description: `Prints 'podspawn <version>'. Every entry point answers --version the same way: the full CLI
(podspawn --version) and the spawn and auth-keys bundles (spawn.cjs --version, auth-keys.cjs --version),
so a node whose bundles were installed from different builds shows it.`,
  },
  async (_line, io) => {
    io.stdout.write(`${VERSION_LINE}\n`);
    return 0;
  },
);
