import type { Socket } from "node:net";
import type { Readable } from "node:stream";
import { readBanner, type Banner } from "../../../adapters/fleet/banner-probe.js";
import { defaultCacheDir, defaultManifestSource, loadManifest, type Fetch } from "../../../adapters/fleet/manifest-loader.js";
import { dialTcp, relay, type Dial } from "../../../adapters/net/tcp-relay.js";
import { describeError, InputError, UserFacingError } from "../../../core/errors.js";
import { parsePodName } from "../../../core/fleet/pod-name.js";
import { rankNodes } from "../../../core/fleet/rendezvous.js";
import { drainedLast, isDrainingBanner } from "../../../core/fleet/ssh-banner.js";
import type { ManifestNode } from "../../../core/fleet/fleet-manifest.js";
import { validateUsername } from "../../../core/users/username.js";
import { parseDurationMs, parsePort } from "../../../core/config/units.js";
import { defineCommand, type Command } from "../../command.js";

export interface ConnectDeps {
  readonly stdin?: Readable;
  readonly dial?: Dial;
  readonly fetch?: Fetch;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 3000;

export function makeConnectCommand(deps: ConnectDeps = {}): Command {
  return defineCommand(
    {
      name: "connect",
      summary: "ssh ProxyCommand: route a .pod name to a fleet node and relay the connection",
      args: [
        { name: "USER", description: "the remote user (ssh's %r)" },
        { name: "HOST", description: "<project>.pod or <project>.<fleet>.pod (ssh's %h)" },
        { name: "PORT", description: "ssh's %p: checked and ignored, every manifest node has its own port" },
      ],
      flags: {
        manifest: {
          type: "string",
          value: "PATH|URL",
          defaultText: "$PODSPAWN_MANIFEST, else ~/.config/podspawn/manifest.json",
          description: "the fleet manifest, a file or https:// URL; URLs are cached in ~/.cache/podspawn",
        },
        "connect-timeout": { type: "string", value: "DURATION", defaultText: "3s", description: "per node" },
        "refuse-unlisted": {
          type: "boolean",
          description: "used by client-setup's catch-all block: HOST's project has no Host block with its SetEnv line, so it would not reach the node; fail with a hint instead",
        },
      },
      description: `The ssh ProxyCommand for .pod names (client-setup writes it: 'connect %r %h %p'). Validates USER and
HOST (the suffix being the manifest's domain), orders the fleet's nodes by rendezvous hash of
(USER, project) with drained nodes last, connects to the first that answers with an SSH banner
that does not say it is draining, failing over to the next on errors, timeouts and draining nodes
(used only when nothing else answers), and relays the SSH stream on stdin/stdout. Diagnostics go to stderr, one line
each; stdout carries only the relayed bytes.`,
    },
    async ({ flags: values, args }, io) => {
      const [rawUser, rawHost, rawPort] = args;
      const user = validateUsername(rawUser, "USER");
      parsePort(rawPort, "PORT");
      const timeoutMs = values["connect-timeout"] === undefined ? DEFAULT_CONNECT_TIMEOUT_MS : parseDurationMs(values["connect-timeout"], "--connect-timeout");
      if (timeoutMs <= 0) throw new InputError("--connect-timeout", "must be more than 0", "e.g. 3s");
      const say = (line: string): void => void io.stderr.write(`podspawn connect: ${line}\n`);

      const { manifest } = await loadManifest(values.manifest ?? defaultManifestSource(io.env), {
        cacheDir: defaultCacheDir(io.env),
        warn: say,
        ...(deps.fetch ? { fetch: deps.fetch } : {}),
      });
      const name = parsePodName(rawHost, manifest);
      if (values["refuse-unlisted"]) {
        throw new InputError(name.host, `project ${JSON.stringify(name.project)} is not set up in this client's ssh config, so it would not reach the node`, `the projects set up with 'podspawn client-setup --project NAME...'; add --project ${name.project} to the ones you have`);
      }

      const dial = deps.dial ?? dialTcp;
      const tried: string[] = [];
      const draining: ManifestNode[] = [];
      const where = (node: ManifestNode): string => `${node.name} (${node.address}:${node.port})`;
      const attempt = async (node: ManifestNode, takeDraining: boolean): Promise<{ socket: Socket; banner: Banner } | null> => {
        let socket: Socket | undefined;
        try {
          socket = await dial(node.address, node.port, timeoutMs);
          const banner = await readBanner(socket, timeoutMs);
          if (!takeDraining && isDrainingBanner(banner.line)) {
            socket.destroy();
            draining.push(node);
            tried.push(`${where(node)}: draining`);
            return null;
          }
          return { socket, banner };
        } catch (err) {
          socket?.destroy();
          tried.push(`${where(node)}: ${describeError(err)}`);
          return null;
        }
      };
      const relayTo = async (node: ManifestNode, c: { socket: Socket; banner: Banner }): Promise<number> => {
        // Failover is worth one line: the session opens on another node than usual.
        if (tried.length > 0) say(`connected to node ${where(node)}; skipped ${tried.join("; ")}`);
        io.stdout.write(c.banner.head);
        const result = await relay(c.socket, deps.stdin ?? process.stdin, io.stdout);
        if (result.error !== undefined) {
          say(`connection to node ${where(node)} ended: ${result.error}`);
          return 1;
        }
        return 0;
      };
      // Drained nodes (manifest) go last; a node whose banner says it is draining is skipped, and
      // used only when no other node answers (it still lets users back into their environments).
      for (const node of drainedLast(rankNodes(user, name.project, manifest.nodes))) {
        const c = await attempt(node, false);
        if (c) return relayTo(node, c);
      }
      for (const node of draining) {
        const c = await attempt(node, true);
        if (c) return relayTo(node, c);
      }
      throw new UserFacingError("no-node", `no node of fleet ${manifest.fleet} answered for ${user}@${name.host} (tried ${tried.join("; ")})`);
    },
  );
}

export const connectCommand: Command = makeConnectCommand();
