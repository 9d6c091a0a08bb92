import { readdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { InputError } from "../../../core/errors.js";
import { starterPodfile } from "../../../core/podfile/index.js";
import { findLocalPodfile } from "../../../adapters/fs/podfile-files.js";
import { defineCommand, type Command } from "../../command.js";

export const initCommand: Command = defineCommand(
  {
    name: "init",
    summary: "write a starter Podfile for a project directory",
    args: [{ name: "DIR", optional: true, description: "the project directory (default: the current one)" }],
    flags: {},
    description: `Looks at the files at the top of DIR (package.json, go.mod, pyproject.toml,
requirements.txt, Cargo.toml; package.json and go.mod together: fullstack) and writes a
starter DIR/podfile.yaml for that kind of project. Refuses to overwrite a Podfile DIR has.
Check it with podspawn podfile validate; register it with podspawn add-project.`,
  },
  async ({ args }, io) => {
    const dir = resolve(args[0] ?? ".");
    const entries = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
      throw new InputError("DIR", `cannot read ${dir} (${err.code ?? err.message})`, "an existing directory");
    });
    const existing = await findLocalPodfile(dir);
    if (existing !== null) throw new InputError("DIR", `${existing} already exists; refusing to overwrite it`, "a directory without a Podfile, or edit the one there");
    const starter = starterPodfile(entries);
    const file = join(dir, "podfile.yaml");
    // wx: a file that appeared meanwhile is not overwritten either.
    await writeFile(file, starter.text, { flag: "wx", mode: 0o644 }).catch((err: NodeJS.ErrnoException) => {
      throw new InputError("DIR", `cannot write ${file} (${err.code ?? err.message})`);
    });
    io.stdout.write(`wrote ${file}: the ${starter.template} starter${starter.marker ? ` (found ${starter.marker})` : ""}\n`);
    return 0;
  },
);
