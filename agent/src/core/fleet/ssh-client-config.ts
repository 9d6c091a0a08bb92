import { InputError } from "../errors.js";
import type { FleetManifest } from "./fleet-manifest.js";
import { podHostNames } from "./pod-name.js";
import { validateProject } from "../container/project.js";
import { INNER_HOST_PRINCIPAL } from "../ide/host-cert.js";
import { INNER_SSHD_COMMAND } from "../ide/inner-sshd.js";

/**
 * The client side's generated text: an ssh_config snippet the user `Include`s at the top of
 * ~/.ssh/config, and the fleet's known_hosts file it points at. Pure renderers, tested by string.
 *
 * Why it looks like this:
 * - Every node's host keys sit under ONE alias (`HostKeyAlias podspawn-<fleet>`), because
 *   `podspawn connect` may route any name to any node (rendezvous order, failover), and ssh must
 *   accept exactly the fleet's keys for all of them. `StrictHostKeyChecking yes`: an unknown or
 *   changed key fails the login, it is never learned; `UpdateHostKeys no` keeps ssh from
 *   rewriting the pinned file from what a node claims.
 * - OpenSSH before 10 does not expand `%n` in `SetEnv`, so the project cannot be derived from the
 *   typed name there. Each project gets its own `Host` block with a literal `SetEnv`; names
 *   without a block fall through to the catch-all, whose ProxyCommand refuses them, because their
 *   project would never reach the node (the session would silently open project `default`).
 * - ssh keeps the first value it reads for an option, so per-project blocks come before the
 *   catch-all and the whole snippet must be included before the user's own `Host` blocks.
 */

export interface ClientConfigInput {
  readonly manifest: FleetManifest;
  /** The client program as absolute argv, e.g. [`/usr/bin/node`, `/opt/podspawn/podspawn.cjs`]. */
  readonly command: readonly string[];
  /** What `connect --manifest` reads: an absolute file path or an http(s) URL. */
  readonly manifestSource: string;
  /** Absolute path of the fleet known_hosts file (see renderFleetKnownHosts). */
  readonly knownHostsFile: string;
  /** Absolute path this snippet is written to, for the Include line in the header. */
  readonly configFile: string;
  /** Projects that get a `Host` block with `SetEnv PODSPAWN_PROJECT=<project>`. */
  readonly projects: readonly string[];
  /**
   * Also write `<project>.ide.<domain>` names for the IDE mode (full SSH inside the container).
   * @default false
   */
  readonly ide?: boolean;
}

/** The label that marks an IDE-mode name: `work.ide.pod` is project `work` in the IDE mode. */
export const IDE_LABEL = "ide";

/** The IDE-mode `Host` patterns of `project`: `<project>.ide.<domain>` and `<project>.ide.<fleet>.<domain>`. */
export function ideHostNames(project: string, d: { readonly domain: string; readonly fleet: string }): [string, string] {
  return [`${project}.${IDE_LABEL}.${d.domain}`, `${project}.${IDE_LABEL}.${d.fleet}.${d.domain}`];
}

export function hostKeyAlias(fleet: string): string {
  return `podspawn-${fleet}`;
}

// Refused everywhere: they would need quoting rules that differ between ssh_config, the shell
// and percent/dollar expansion, and no sane path or URL needs them.
const UNSAFE_CHARS = "\"'`\\$";
const isUnsafe = (value: string): boolean => [...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f || UNSAFE_CHARS.includes(c));
const SHELL_SAFE = /^[A-Za-z0-9_./:@,+=-]+$/;

function checkWord(value: string, field: string): void {
  if (value.length === 0) throw new InputError(field, "must not be empty");
  if (isUnsafe(value)) throw new InputError(field, `${JSON.stringify(value)} contains a quote, backslash, '$' or control character`, "paths and URLs without those characters");
}

function checkAbsolute(value: string, field: string): void {
  checkWord(value, field);
  if (!value.startsWith("/")) throw new InputError(field, `${JSON.stringify(value)} is not an absolute path`, "an absolute path");
}

/**
 * One word of the ProxyCommand. ssh percent-expands the line and runs it with `$SHELL -c`, so `%`
 * is doubled and anything outside a plain set of characters is single-quoted for the shell.
 */
function proxyWord(value: string): string {
  const escaped = value.replace(/%/g, "%%");
  return SHELL_SAFE.test(escaped) ? escaped : `'${escaped}'`;
}

/** A file argument of an ssh_config option: percent-expanded by ssh, split at blanks unless quoted. */
function configPath(value: string): string {
  const escaped = value.replace(/%/g, "%%");
  return /[\s#]/.test(escaped) ? `"${escaped}"` : escaped;
}

/**
 * The ProxyCommand line's words after the program: `connect [--manifest X] [--refuse-unlisted] '%r' '%h' %p`.
 * %r and %h are what the user typed: clients before OpenSSH 9.6 (without its backport) put them
 * into the shell line as they are, so `ssh 'a;id'.pod` would run `id`. Single quotes keep them
 * one word each; only a name with a `'` in it could still end the quoting, and connect refuses
 * every name that is not a valid pod name. %p is a number.
 */
function proxyCommand(input: ClientConfigInput, refuseUnlisted: boolean): string {
  const words = [...input.command.map(proxyWord), "connect", "--manifest", proxyWord(input.manifestSource)];
  if (refuseUnlisted) words.push("--refuse-unlisted");
  return `${words.join(" ")} '%r' '%h' %p`;
}

/** The one line to put at the top of ~/.ssh/config. */
export function includeLine(configFile: string): string {
  checkAbsolute(configFile, "config file");
  return `Include ${configPath(configFile)}`;
}

function checkInput(input: ClientConfigInput): string[] {
  if (input.command.length === 0) throw new InputError("command", "is empty", "the absolute path of podspawn (or of node and the bundle)");
  input.command.forEach((word, i) => checkAbsolute(word, `command[${i}]`));
  checkWord(input.manifestSource, "--manifest");
  checkAbsolute(input.knownHostsFile, "known_hosts file");
  checkAbsolute(input.configFile, "config file");
  if (input.projects.length === 0) throw new InputError("--project", "no projects given", "at least one project name");
  const projects = [...new Set(input.projects.map((p) => validateProject(p, "--project")))];
  if (input.ide) checkIdeManifest(input.manifest);
  return projects;
}

function checkIdeManifest(manifest: FleetManifest): void {
  // `<project>.ide.<domain>` would read as project.fleet.domain for a fleet named "ide".
  if (manifest.fleet === IDE_LABEL) throw new InputError("--ide", `the fleet is named ${JSON.stringify(IDE_LABEL)}, which the IDE-mode names <project>.${IDE_LABEL}.<domain> would shadow`, "a fleet with another name");
  const missing = manifest.nodes.filter((n) => n.hostCa === undefined).map((n) => n.name);
  if (missing.length > 0) {
    throw new InputError("--ide", `the manifest has no hostCa for node(s) ${missing.join(", ")}, so their inner sshd could not be verified`, "a manifest whose every node carries hostCa (podspawn host-ca on the node)");
  }
}

/**
 * The IDE mode's blocks: the client speaks SSH to the inner sshd through a ProxyCommand that is the
 * plain session (`ssh %r@<project>.<domain> podspawn-sshd`, itself routed and pinned by the blocks
 * below), and checks the inner host certificate against the nodes' CAs under one alias.
 */
function ideBlocks(input: ClientConfigInput, projects: readonly string[]): string[] {
  const { domain } = input.manifest;
  const lines = [
    `# IDE mode (full SSH inside the container: -L/-R/-D/-A, VS Code, JetBrains): <project>.${IDE_LABEL}.${domain}.`,
    "# The inner host key is a certificate from a node's host CA; the outer hop is the plain session.",
  ];
  for (const project of projects) {
    lines.push(
      `Host ${ideHostNames(project, input.manifest).join(" ")}`,
      `  ProxyCommand ssh -T -o ClearAllForwardings=yes -o ForwardAgent=no -o RequestTTY=no %r@${project}.${domain} ${INNER_SSHD_COMMAND}`,
      `  HostKeyAlias ${INNER_HOST_PRINCIPAL}`,
      `  UserKnownHostsFile ${configPath(input.knownHostsFile)}`,
      "  StrictHostKeyChecking yes",
      "  UpdateHostKeys no",
      "",
    );
  }
  return lines;
}

/** The ssh_config snippet for one fleet. */
export function renderClientConfig(input: ClientConfigInput): string {
  const projects = checkInput(input);
  const { fleet, domain } = input.manifest;
  const lines = [
    `# podspawn client config for fleet ${fleet} (*.${domain}), written by 'podspawn client-setup'.`,
    "# Re-run client-setup instead of editing this file. Include it at the TOP of ~/.ssh/config:",
    `#   ${includeLine(input.configFile)}`,
    "# (ssh keeps the first value it reads, so it must come before your own Host blocks).",
    "",
    "# One block per project: OpenSSH < 10 does not expand %n in SetEnv, so the project name is literal.",
  ];
  for (const project of projects) {
    lines.push(
      `Host ${podHostNames(project, input.manifest).join(" ")}`,
      `  SetEnv PODSPAWN_PROJECT=${project}`,
      `  ProxyCommand ${proxyCommand(input, false)}`,
      "",
    );
  }
  if (input.ide) lines.push(...ideBlocks(input, projects));
  lines.push(
    `# Every .${domain} name: routing and the fleet's pinned host keys. A name without a project block`,
    "# above is refused by connect (its project could not reach the node).",
    `Host *.${domain}`,
    `  ProxyCommand ${proxyCommand(input, true)}`,
    `  HostKeyAlias ${hostKeyAlias(fleet)}`,
    `  UserKnownHostsFile ${configPath(input.knownHostsFile)}`,
    "  StrictHostKeyChecking yes",
    "  UpdateHostKeys no",
    "",
  );
  return lines.join("\n");
}

/**
 * Every node's host keys under the fleet's single alias, each key once, in manifest order; with
 * `ide`, every node's host CA as `@cert-authority` for the inner sshd's alias too.
 */
export function renderFleetKnownHosts(manifest: FleetManifest, ide = false): string {
  const alias = hostKeyAlias(manifest.fleet);
  const keys = [...new Set(manifest.nodes.flatMap((n) => n.hostKeys))];
  const cas = ide ? [...new Set(manifest.nodes.flatMap((n) => (n.hostCa === undefined ? [] : [n.hostCa])))] : [];
  return [
    `# podspawn fleet ${manifest.fleet}: the host keys of every node (${manifest.nodes.map((n) => n.name).join(", ")}),`,
    `# under one alias because any node may answer for any .${manifest.domain} name. Written by 'podspawn client-setup'.`,
    ...keys.map((k) => `${alias} ${k}`),
    ...(cas.length > 0 ? [`# The nodes' host CAs: inner sshd host certificates (the IDE mode) under ${INNER_HOST_PRINCIPAL}.`] : []),
    ...cas.map((k) => `@cert-authority ${INNER_HOST_PRINCIPAL} ${k}`),
    "",
  ].join("\n");
}

export interface IncludeEdit {
  /** The new file text (equal to the old one when nothing changed). */
  readonly text: string;
  readonly changed: boolean;
  /** An older copy of the line below a Host/Match block, where it only applies conditionally. */
  readonly misplaced: boolean;
}

/**
 * ~/.ssh/config with `line` among the leading global lines (before any Host/Match block), added
 * at the very top when it is not there yet. Running it twice changes nothing the second time.
 */
export function withIncludeAtTop(existing: string | null, line: string): IncludeEdit {
  const text = existing ?? "";
  const want = line.trim().replace(/\s+/g, " ").toLowerCase();
  let inBlock = false;
  let misplaced = false;
  for (const raw of text.split("\n")) {
    const l = raw.trim().replace(/\s+/g, " ").toLowerCase();
    if (/^(host|match)[\s=]/.test(l)) inBlock = true;
    if (l === want) {
      if (!inBlock) return { text, changed: false, misplaced: false };
      misplaced = true;
    }
  }
  const header = `# Added by 'podspawn client-setup': must stay above every Host/Match block.\n${line}\n`;
  return { text: text === "" ? header : `${header}\n${text}`, changed: true, misplaced };
}
