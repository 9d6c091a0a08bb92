import { defineCommand, type Command } from "../../command.js";
import { defaultDrainDeps, type DrainDeps } from "./drain-deps.js";
import { SSHD_FLAGS } from "./drain.js";

export function makeUndrainCommand(deps: () => DrainDeps = defaultDrainDeps): Command {
  return defineCommand(
    {
      name: "undrain",
      summary: "let this node take new environments again",
      flags: { ...SSHD_FLAGS },
      description: `Ends a drain: the daemon creates environments again and sshd's identification line loses the
drain mark, so 'podspawn connect' routes to the node as before. Needs root and a running daemon.`,
    },
    async ({ flags }, io) => {
      const d = deps();
      // The daemon first: clients may come back once the mark is gone, and must then be let in.
      const res = await d.drain(io.layout, { op: "drain", drain: false, reason: null });
      const sshd = await d.mark(false, io.layout, { configPath: flags["sshd-config"], ...(flags["sshd-pid-file"] ? { pidFile: flags["sshd-pid-file"] } : {}) });
      io.stdout.write(`node open${res.wasDrained ? "" : " (it was not drained)"}: new environments are created again\n${sshd}\n`);
      return 0;
    },
  );
}

export const undrainCommand: Command = makeUndrainCommand();
