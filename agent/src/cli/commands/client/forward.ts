import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { createServer, isIP, type AddressInfo, type Server, type Socket } from "node:net";
import { createInterface } from "node:readline";
import { parsePort } from "../../../core/config/units.js";
import { InputError, UserFacingError } from "../../../core/errors.js";
import { tunnelCommand } from "../../../core/protocol/tunnel-request.js";
import { startProcess } from "../../../adapters/process/run-process.js";
import { defineCommand, type Command } from "../../command.js";
import { parseCommandLine, type CommandSpec, type ParsedCommandLine } from "../../flags.js";

/** Declared apart from the command: parseForwardArgs is tested on its own. */
const FORWARD = {
  name: "forward",
  summary: "forward a local TCP port to a port inside your environment (through ssh)",
  args: [
    { name: "LOCALPORT:REMOTEPORT", description: "LOCALPORT 0-65535 (0: any free port; the chosen one is printed)\nREMOTEPORT 1-65535, a port something listens on inside the environment" },
    { name: "DESTINATION", description: "anything ssh accepts: dev@node.example.com, work.pod, a Host alias" },
  ],
  rest: { name: "SSH_ARGS", description: "extra ssh options, e.g. -p 2222 -i KEY" },
  flags: {
    local: {
      type: "string",
      value: "ADDR",
      default: "127.0.0.1",
      description: "address to listen on (the default: only this machine can connect); any other address is reachable by everyone who can reach this machine",
    },
  },
  description: `Forwards a local TCP port to a port inside your environment (ssh -L is off on podspawn nodes: it
would reach the node itself). Listens on ADDR:LOCALPORT and, for each connection it accepts, runs
  ssh [SSH_ARGS...] DESTINATION podspawn-tunnel REMOTEPORT
and relays the connection through it; the node connects to REMOTEPORT on your own container.
Runs until Ctrl-C (SIGINT) or SIGTERM. ssh's messages are shown on stderr, prefixed.`,
  notes: `To open one ssh connection for all tunnels instead of one per connection, add to SSH_ARGS
  -o ControlMaster=auto -o ControlPath=~/.ssh/podspawn-%C -o ControlPersist=60
Example: podspawn forward 8080:3000 work.pod   then open http://127.0.0.1:8080`,
} as const satisfies CommandSpec;

export interface ForwardOptions {
  readonly local: string;
  readonly localPort: number;
  readonly remotePort: number;
  readonly destination: string;
  readonly sshArgs: readonly string[];
}

/** Parse `[--local ADDR] LOCALPORT:REMOTEPORT DESTINATION [-- SSH_ARGS...]`. */
export function parseForwardArgs(argv: readonly string[]): ForwardOptions {
  return checkForwardArgs(parseCommandLine(FORWARD, argv));
}

function checkForwardArgs({ flags, args, rest: sshArgs }: ParsedCommandLine<typeof FORWARD.flags>): ForwardOptions {
  const [spec = "", destination = ""] = args;
  const m = /^([^:]*):([^:]*)$/.exec(spec);
  if (!m) throw new InputError("LOCALPORT:REMOTEPORT", `${JSON.stringify(spec)} is not two ports separated by a colon`, "e.g. 8080:3000");
  const localPort = parsePort(m[1] ?? "", "LOCALPORT", { allowZero: true });
  const remotePort = parsePort(m[2] ?? "", "REMOTEPORT");
  // A leading dash would make ssh read the destination as an option.
  if (destination === "" || destination.startsWith("-") || /\s/.test(destination)) {
    throw new InputError("DESTINATION", `${JSON.stringify(destination)} is not an ssh destination`, "[user@]host or a Host alias; ssh options go after --");
  }
  const local = flags.local;
  if (isIP(local) === 0) throw new InputError("--local", `${JSON.stringify(local)} is not an IP address`, "e.g. 127.0.0.1, ::1, 0.0.0.0");
  return { local, localPort, remotePort, destination, sshArgs };
}

const isLoopback = (address: string): boolean => address === "::1" || address.startsWith("127.");

export type SpawnSsh = (args: readonly string[], env: NodeJS.ProcessEnv) => ChildProcessWithoutNullStreams;

export interface ForwardDeps {
  readonly spawnSsh?: SpawnSsh;
  /** Resolves when the listener should stop (default: SIGINT or SIGTERM). */
  readonly stop?: Promise<void>;
  /** Called once the listener is up, with the port it listens on. */
  readonly onListening?: (port: number) => void;
}

/** ssh runs with the user's own environment: it needs HOME, SSH_AUTH_SOCK and the like. */
const defaultSpawnSsh: SpawnSsh = (args, env) => startProcess("ssh", args, { env });

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      resolve();
    };
    process.on("SIGINT", done);
    process.on("SIGTERM", done);
  });
}

/**
 * One accepted connection <-> one `ssh DESTINATION podspawn-tunnel PORT`. Half-close passes
 * through (the client's FIN becomes ssh's stdin EOF, and ssh's stdout EOF our FIN); an error on
 * either side ends both.
 */
function relayThroughSsh(conn: Socket, child: ChildProcessWithoutNullStreams, say: (line: string) => void): void {
  conn.pipe(child.stdin);
  child.stdout.pipe(conn);
  createInterface({ input: child.stderr }).on("line", (line) => say(`ssh: ${line}`));
  const end = (): void => {
    conn.destroy();
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  };
  conn.on("error", end);
  child.stdin.on("error", end);
  child.on("error", (err) => {
    say(`could not run ssh: ${err.message}`);
    end();
  });
  child.on("close", () => {
    // Give the client what ssh already handed us, then close.
    conn.end();
  });
}

export function makeForwardCommand(deps: ForwardDeps = {}): Command {
  return defineCommand(FORWARD, async (parsed, io) => {
    const opts = checkForwardArgs(parsed);
    const say = (line: string): void => void io.stderr.write(`podspawn forward: ${line}\n`);
    const spawnSsh = deps.spawnSsh ?? defaultSpawnSsh;
    const stop = deps.stop ?? untilSignal();
    const children = new Set<ChildProcessWithoutNullStreams>();
    const conns = new Set<Socket>();
    const server: Server = createServer({ allowHalfOpen: true }, (conn) => {
      conns.add(conn);
      conn.on("close", () => conns.delete(conn));
      const child = spawnSsh([...opts.sshArgs, opts.destination, tunnelCommand(opts.remotePort)], io.env);
      children.add(child);
      child.on("close", () => children.delete(child));
      relayThroughSsh(conn, child, say);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) => reject(new UserFacingError("listen", `cannot listen on ${opts.local}:${opts.localPort}: ${err.code ?? err.message}`)));
      server.listen(opts.localPort, opts.local, () => resolve());
    });
    const bound = (server.address() as AddressInfo).port;
    if (!isLoopback(opts.local)) say(`warning: ${opts.local} is not a loopback address; anyone who can reach it can use this tunnel`);
    say(`${opts.local}:${bound} -> port ${opts.remotePort} in ${opts.destination} (Ctrl-C to stop)`);
    deps.onListening?.(bound);
    await stop;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const child of children) child.kill("SIGTERM");
      for (const conn of conns) conn.destroy();
    });
    return 0;
  });
}

export const forwardCommand: Command = makeForwardCommand();
