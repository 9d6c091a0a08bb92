import { realpathSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { discoverFleet, systemResolveTxt, type ResolveTxt } from "../../../adapters/fleet/discovery.js";
import { defaultCacheDir, defaultManifestSource, loadManifest, type Fetch } from "../../../adapters/fleet/manifest-loader.js";
import { ensureDir, ensureFile, readFileState, writeFileAtomic } from "../../../adapters/fs/atomic-file.js";
import { describeError, InputError, UserFacingError } from "../../../core/errors.js";
import { DEFAULT_PROJECT } from "../../../core/container/project.js";
import { includeLine, renderClientConfig, renderFleetKnownHosts, withIncludeAtTop } from "../../../core/fleet/ssh-client-config.js";
import { defineCommand, type Command, type CommandIo } from "../../command.js";

export interface ClientSetupDeps {
  readonly fetch?: Fetch;
  /** The argv that runs this CLI, absolute. */
  readonly program?: () => string[];
  /** DNS TXT lookups for --discover. @default the system resolver */
  readonly resolveTxt?: ResolveTxt;
}

/** The running CLI as absolute argv: node itself plus the script it runs (a bundle or dist file). */
export function runningProgram(): string[] {
  const script = process.argv[1];
  if (script === undefined) throw new UserFacingError("no-program", "cannot tell which file runs podspawn; pass --command");
  return [process.execPath, realpathSync(script)];
}

function home(io: CommandIo): string {
  return io.env["HOME"] || homedir();
}

function expandHome(path: string, io: CommandIo): string {
  return path === "~" || path.startsWith("~/") ? join(home(io), path.slice(1)) : resolve(path);
}

async function addInclude(io: CommandIo, line: string, dryRun: boolean): Promise<void> {
  const sshDir = join(home(io), ".ssh");
  const path = join(sshDir, "config");
  let current;
  try {
    current = await readFileState(path);
  } catch (err) {
    throw new UserFacingError("ssh-config", `cannot edit ${path} (${describeError(err)}); add this line at its top yourself: ${line}`);
  }
  const edit = withIncludeAtTop(current?.content.toString("utf8") ?? null, line);
  if (edit.misplaced) io.stderr.write(`warning: ${path} has the Include line below a Host/Match block, where it applies only to that block; it is now also at the top\n`);
  if (!edit.changed) {
    io.stderr.write(`${path} already includes it at the top\n`);
    return;
  }
  if (dryRun) {
    io.stdout.write(`# would add at the top of ${path}:\n${line}\n`);
    return;
  }
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  await mkdir(sshDir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, edit.text, current ? { mode: current.mode, uid: current.uid, gid: current.gid } : { mode: 0o600, uid, gid });
  io.stderr.write(`added the Include line at the top of ${path}\n`);
}

/** `name` lets `setup` (the reference system's name) share this command whole. */
export function makeClientSetupCommand(deps: ClientSetupDeps = {}, name = "client-setup", summary = "write the ssh client config and fleet known_hosts for *.pod names"): Command {
  return defineCommand(
    {
      name,
      summary,
      flags: {
        manifest: {
          type: "string",
          value: "PATH|URL",
          defaultText: "$PODSPAWN_MANIFEST, else ~/.config/podspawn/manifest.json",
          description: "the fleet manifest, a file or https:// URL; the ProxyCommand reads the same source",
        },
        discover: {
          type: "string",
          value: "DOMAIN",
          description: "find the manifest through DNS: the TXT record _podspawn.DOMAIN the fleet's stack publishes (its URL must be https)",
        },
        project: {
          type: "string",
          multiple: true,
          value: "NAME",
          defaultText: DEFAULT_PROJECT,
          description: "a project to reach as <project>.<domain>; list every project each time",
        },
        dir: { type: "string", value: "DIR", defaultText: "~/.ssh/podspawn; created 0700", description: "where the two files go" },
        command: { type: "string", value: "PATH", defaultText: "this node binary and this bundle", description: "the podspawn program for the ProxyCommand, absolute" },
        ide: { type: "boolean", description: "also write <project>.ide.<domain> names: full SSH inside the container (see docs/client.md)" },
        "write-include": { type: "boolean", description: "also add the Include line at the top of ~/.ssh/config (once)" },
        "dry-run": { type: "boolean", description: "print what would be written; write nothing" },
      },
      description: `Sets up this machine's ssh client for a podspawn fleet: writes DIR/config (an ssh_config snippet:
a Host block per project with a literal 'SetEnv PODSPAWN_PROJECT=<project>', and a 'Host *.<domain>'
block whose ProxyCommand is 'podspawn connect %r %h %p' with the fleet's host keys pinned under one
HostKeyAlias, StrictHostKeyChecking yes) and DIR/known_hosts (every node's host keys), then prints
the Include line that must go at the TOP of ~/.ssh/config.`,
    },
    async ({ flags: values }, io) => {
      const dir = expandHome(values.dir ?? "~/.ssh/podspawn", io);
      const configFile = join(dir, "config");
      const knownHostsFile = join(dir, "known_hosts");
      const command = values.command === undefined ? (deps.program ?? runningProgram)() : [values.command];
      if (values.discover !== undefined && values.manifest !== undefined) throw new InputError("--discover", "given with --manifest", "one of --manifest or --discover");
      let source = values.manifest ?? defaultManifestSource(io.env);
      let expectFleet: string | null = null;
      if (values.discover !== undefined) {
        const found = await discoverFleet(values.discover, deps.resolveTxt ?? systemResolveTxt());
        io.stderr.write(`discovered fleet ${found.fleet ?? "(unnamed)"} at ${values.discover}: manifest ${found.manifestUrl}\n`);
        source = found.manifestUrl;
        expectFleet = found.fleet;
      }
      const loaded = await loadManifest(source, {
        cacheDir: defaultCacheDir(io.env),
        warn: (line) => io.stderr.write(`podspawn ${name}: ${line}\n`),
        ...(deps.fetch ? { fetch: deps.fetch } : {}),
      });
      if (expectFleet !== null && loaded.manifest.fleet !== expectFleet) {
        throw new UserFacingError("discovery-mismatch", `the TXT record of ${values.discover ?? "?"} names fleet ${expectFleet}, but its manifest is for fleet ${loaded.manifest.fleet}; nothing written`);
      }
      const projects = values.project.length > 0 ? values.project : [DEFAULT_PROJECT];
      const ide = values.ide === true;
      const config = renderClientConfig({ manifest: loaded.manifest, command, manifestSource: loaded.source, knownHostsFile, configFile, projects, ide });
      const knownHosts = renderFleetKnownHosts(loaded.manifest, ide);
      const include = includeLine(configFile);

      if (values["dry-run"]) {
        io.stdout.write(`# would write ${configFile} (mode 0644; ${dir} mode 0700):\n${config}\n# would write ${knownHostsFile} (mode 0644):\n${knownHosts}\n`);
      } else {
        const uid = process.getuid?.() ?? 0;
        const gid = process.getgid?.() ?? 0;
        // Missing parents (a new ~/.ssh) are made private; existing ones are left as they are.
        await mkdir(dirname(dir), { recursive: true, mode: 0o700 });
        await ensureDir(dir, { mode: 0o700, uid, gid });
        const a = await ensureFile(configFile, config, { mode: 0o644, uid, gid });
        const b = await ensureFile(knownHostsFile, knownHosts, { mode: 0o644, uid, gid });
        io.stderr.write(`${configFile}: ${a}\n${knownHostsFile}: ${b} (${loaded.manifest.nodes.length} node(s) of fleet ${loaded.manifest.fleet})\n`);
        io.stderr.write(`projects: ${[...new Set(projects)].map((p) => `${p}.${loaded.manifest.domain}`).join(", ")}\n`);
        if (ide) io.stderr.write(`IDE mode: ${[...new Set(projects)].map((p) => `${p}.ide.${loaded.manifest.domain}`).join(", ")}\n`);
      }
      if (values["write-include"]) await addInclude(io, include, values["dry-run"]);
      else if (!values["dry-run"]) io.stderr.write("add this line at the TOP of ~/.ssh/config (or rerun with --write-include):\n");
      if (!values["dry-run"] || !values["write-include"]) io.stdout.write(`${include}\n`);
      return 0;
    },
  );
}

export const clientSetupCommand: Command = makeClientSetupCommand();
