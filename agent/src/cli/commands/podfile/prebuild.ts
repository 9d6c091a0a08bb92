import { loadNodeConfig } from "../../../adapters/fs/node-config-file.js";
import { fsProjectRegistry } from "../../../adapters/fs/project-registry.js";
import { DockerImageBuilder } from "../../../adapters/docker/docker-image-builder.js";
import { validateProject } from "../../../core/container/project.js";
import { InputError, UserFacingError } from "../../../core/errors.js";
import type { ImageBuilder } from "../../../core/ports/image-builder.js";
import { nodeResourceCaps, planEnvironment, type EnvironmentPlan } from "../../../core/podfile/index.js";
import { resolveRecord } from "../../../core/projects/resolve-record.js";
import { projectRepository } from "../../../core/projects/project-record.js";
import { ImageBuilds } from "../../../daemon/projects/image-builds.js";
import { imageRequest } from "../../../daemon/projects/planner.js";
import { defineCommand, type Command, type CommandIo } from "../../command.js";
import { checkPodfile, localNode, podfilePath, projectFor } from "./podfile-source.js";

/** A registered project's plan, exactly as a login would plan it (from its record). */
async function registeredPlan(name: string, io: CommandIo): Promise<EnvironmentPlan> {
  const record = await fsProjectRegistry(io.layout.projectsDir).read(name);
  if (!record) throw new InputError("--project", `no project ${name} on this node`, "a project podspawn list-projects shows, or a Podfile FILE");
  const config = await loadNodeConfig(io.layout.configFile);
  const podfile = await resolveRecord(record, config, nodeResourceCaps(config));
  return planEnvironment(podfile, { instance: io.layout.instance, user: "podspawn-check", project: name, nodeConfig: config, caps: nodeResourceCaps(config), repository: projectRepository(record.source) });
}

export function makePrebuildCommand(builder: (io: CommandIo) => ImageBuilder = (io) => new DockerImageBuilder(io.env["PODSPAWN_DOCKER_SOCKET"] || "/var/run/docker.sock")): Command {
  return defineCommand(
    {
      name: "prebuild",
      summary: "build a project's or a Podfile's environment image now, so no login waits for it",
      args: [{ name: "FILE", optional: true, description: "a Podfile (default: ./podfile.yaml), unless --project names a registered project" }],
      flags: {
        project: { type: "string", value: "NAME", description: "a registered project (alone), or the name FILE's image is tagged with", defaultText: "FILE's directory name" },
        force: { type: "boolean", description: "build again without the layer cache, even if the image exists" },
      },
      description: `Builds the environment image a login would build (the same Dockerfile, tag and builder),
with each step on stderr, and prints the image on stdout. Nothing is built when the image
exists already (its tag is a content hash), unless --force. The full log goes to the
node's build logs like a login's. Runs as root, beside the daemon: a login that needs the
same image meanwhile may build it too.`,
    },
    async ({ args, flags }, io) => {
      const name = flags.project === undefined ? undefined : validateProject(flags.project, "--project");
      const { plan, project } = args[0] === undefined && name !== undefined ? { plan: await registeredPlan(name, io), project: name } : await filePlan(args[0], name, io);
      const request = imageRequest(plan, project);
      if (!request) {
        io.stdout.write(`nothing to build: the environment runs ${plan.container.image} as it is\n`);
        return 0;
      }
      const config = await loadNodeConfig(io.layout.configFile);
      const builds = new ImageBuilds({ builder: builder(io), logDir: io.layout.buildLogsDir, timeoutMs: () => config.buildTimeoutMs, log: () => undefined, maxWaiting: 0 });
      const outcome = await builds.ensure({ ...request, force: flags.force }, (line) => io.stderr.write(`podspawn: ${line}\n`)).catch((err: unknown) => {
        if (err instanceof UserFacingError && err.detail) io.stderr.write(`podspawn prebuild: ${err.detail}\n`);
        throw err;
      });
      io.stdout.write(outcome.built ? `built ${request.tag} in ${(outcome.ms / 1000).toFixed(1)} s (log: ${outcome.logFile})\n` : `${request.tag} is up to date\n`);
      return 0;
    },
  );
}

async function filePlan(given: string | undefined, name: string | undefined, io: CommandIo): Promise<{ plan: EnvironmentPlan; project: string }> {
  const file = await podfilePath(given);
  const project = projectFor(file, name);
  return { plan: (await checkPodfile(file, project, await localNode(io.layout))).plan, project };
}

export const prebuildCommand: Command = makePrebuildCommand();
