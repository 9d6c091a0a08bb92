import { InputError } from "../../../core/errors.js";
import { defineCommand, type Command } from "../../command.js";
import { checkPodfile, localNode, podfilePath, projectFor } from "./podfile-source.js";

export const podfileCommand: Command = defineCommand(
  {
    name: "podfile",
    summary: "check a Podfile: podspawn podfile validate [FILE]",
    args: [
      { name: "validate", description: "the action (the only one)" },
      { name: "FILE", optional: true, description: "the Podfile (default: ./podfile.yaml or ./.podspawn/podfile.yaml); a .json file is read as a devcontainer.json" },
    ],
    flags: {
      project: { type: "string", value: "NAME", description: "the project name its image is tagged with", defaultText: "the file's directory name" },
    },
    description: `Reads FILE and everything it extends (relative paths from FILE's own directory), checks
every field, and plans the environment as this node would (on a node: its caps and default
image; elsewhere: the format's own bounds). Exit 0 and one summary line, or exit 2 and the
first problem as file:line: path: problem (allowed: ...). Nothing is built or written.`,
  },
  async ({ args, flags }, io) => {
    if (args[0] !== "validate") throw new InputError("podfile", `unknown action ${JSON.stringify(args[0])}`, "validate");
    const file = await podfilePath(args[1]);
    const checked = await checkPodfile(file, projectFor(file, flags.project), await localNode(io.layout));
    for (const note of checked.notes) io.stderr.write(`warning: ${note}\n`);
    const { plan } = checked;
    const image = plan.image.kind === "build" ? `builds ${plan.image.tag} from ${plan.image.base}` : `runs ${plan.image.image} as it is`;
    io.stdout.write(`${checked.file}: valid; ${image}; ${plan.services.length} service(s)\n`);
    return 0;
  },
);
