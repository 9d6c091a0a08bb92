import { defaultCacheDir, defaultManifestSource, loadManifest, type Fetch } from "../../../adapters/fleet/manifest-loader.js";
import { dialTcp, type Dial } from "../../../adapters/net/tcp-relay.js";
import { validateProject, DEFAULT_PROJECT } from "../../../core/container/project.js";
import { describeError, InputError } from "../../../core/errors.js";
import type { ManifestNode } from "../../../core/fleet/fleet-manifest.js";
import { placement, renderServers, type ProbedNode } from "../../../core/fleet/servers-report.js";
import { parseDurationMs } from "../../../core/config/units.js";
import { validateUsername } from "../../../core/users/username.js";
import { defineCommand, type Command } from "../../command.js";

export interface ServersDeps {
  readonly dial?: Dial;
  readonly fetch?: Fetch;
  /** Milliseconds, for the connect time shown. @default performance.now */
  readonly clock?: () => number;
}

async function probe(node: ManifestNode, dial: Dial, timeoutMs: number, clock: () => number): Promise<ProbedNode> {
  const t0 = clock();
  try {
    const socket = await dial(node.address, node.port, timeoutMs);
    socket.destroy();
    return { node, health: { ok: true, ms: Math.round(clock() - t0) } };
  } catch (err) {
    return { node, health: { ok: false, error: describeError(err) } };
  }
}

export function makeServersCommand(deps: ServersDeps = {}): Command {
  return defineCommand(
    {
      name: "servers",
      summary: "list the fleet's nodes, their health, and which node a user/project lands on",
      flags: {
        manifest: { type: "string", value: "PATH|URL", defaultText: "$PODSPAWN_MANIFEST, else ~/.config/podspawn/manifest.json", description: "the fleet manifest, as for connect" },
        user: { type: "string", value: "USER", description: "also show the node USER's sessions of --project land on now" },
        project: { type: "string", value: "PROJECT", defaultText: DEFAULT_PROJECT, description: "the project for --user" },
        timeout: { type: "string", value: "DURATION", default: "3s", description: "per node TCP connect" },
        json: { type: "boolean", description: "print JSON" },
      },
      description: `Reads the fleet manifest, opens a TCP connection to every node at once (each bounded by
--timeout) and prints NODE ADDRESS PORT HEALTH. With --user, also where 'podspawn connect' would
take that user's project right now: the first node in rendezvous order that answers. Exits 1 when
no node answers, 0 otherwise.`,
    },
    async ({ flags }, io) => {
      const timeoutMs = parseDurationMs(flags.timeout, "--timeout");
      if (timeoutMs <= 0) throw new InputError("--timeout", "must be more than 0", "e.g. 3s");
      if (flags.project !== undefined && flags.user === undefined) throw new InputError("--project", "needs --user", "--user alice --project web");
      const user = flags.user === undefined ? null : validateUsername(flags.user, "--user");
      const project = validateProject(flags.project ?? DEFAULT_PROJECT, "--project");
      const { manifest } = await loadManifest(flags.manifest ?? defaultManifestSource(io.env), {
        cacheDir: defaultCacheDir(io.env),
        warn: (line) => io.stderr.write(`podspawn servers: ${line}\n`),
        ...(deps.fetch ? { fetch: deps.fetch } : {}),
      });
      const clock = deps.clock ?? (() => performance.now());
      const probed = await Promise.all(manifest.nodes.map((n) => probe(n, deps.dial ?? dialTcp, timeoutMs, clock)));
      const where = user === null ? null : placement(user, project, probed);
      if (flags.json) io.stdout.write(JSON.stringify({ fleet: manifest.fleet, domain: manifest.domain, nodes: probed.map((p) => ({ name: p.node.name, address: p.node.address, port: p.node.port, ...p.health })), placement: where }, null, 2) + "\n");
      else io.stdout.write(renderServers(manifest.fleet, manifest.domain, probed, where));
      return probed.some((p) => p.health.ok) ? 0 : 1;
    },
  );
}

export const serversCommand: Command = makeServersCommand();
