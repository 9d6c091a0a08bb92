/**
 * The IDE mode's client side for e2e tests: an ssh_config whose `ide` host reaches the inner sshd
 * (`podspawn-sshd`) through a ProxyCommand that is the outer ssh to the e2e node, with the inner
 * host certificate checked against the node's host CA (`@cert-authority podspawn-ide ...`).
 * Real OpenSSH clients only (ssh, scp, sftp, rsync -e ssh, curl through -D).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { connect, createServer, type Server } from "node:net";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { runCommand, type CommandResult, type RunOptions } from "../../scripts/local-node.js";
import { eventually, PORT, type NodeHandle } from "./harness.js";

export interface InnerClient {
  /** The ssh_config file: `ssh -F <it> USER@ide`. */
  readonly configFile: string;
  readonly knownHosts: string;
  ssh(user: string, args: readonly string[], opts?: RunOptions & { host?: string }): Promise<CommandResult>;
  /** The same, as a child process (for -L/-D/-R sessions that stay open). */
  spawnSsh(user: string, args: readonly string[], host?: string): ChildProcess;
}

/** The outer hop for the ProxyCommand: the harness's pinned, key-only ssh to the e2e node. */
function proxyCommand(node: NodeHandle): string {
  return [
    "ssh", "-p", String(PORT), "-i", `${node.clientDir}/%r`, "-o", "IdentitiesOnly=yes",
    "-o", `UserKnownHostsFile=${node.knownHosts}`, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
    "-o", "KexAlgorithms=curve25519-sha256", "-o", "LogLevel=ERROR", "-o", "ClearAllForwardings=yes", "-T",
    "%r@127.0.0.1", "podspawn-sshd",
  ].join(" ");
}

function innerBlock(host: string, identity: string, node: NodeHandle, knownHosts: string): string {
  return [
    `Host ${host}`,
    `  ProxyCommand ${proxyCommand(node)}`,
    `  IdentityFile ${identity}`,
    "  IdentitiesOnly yes",
    "  HostKeyAlias podspawn-ide",
    `  UserKnownHostsFile ${knownHosts}`,
    "  GlobalKnownHostsFile /dev/null",
    "  StrictHostKeyChecking yes",
    "  UpdateHostKeys no",
    "  BatchMode yes",
    "  KexAlgorithms curve25519-sha256",
    "  LogLevel ERROR",
    "  ConnectTimeout 20",
    "",
  ].join("\n");
}

/**
 * Hosts: `ide` (the user's own key, the node's CA), `ide-wrong-ca` (a CA the node never used),
 * `ide-unknown` (no CA at all), `ide-other-key` (the outer hop as the user, the inner login with
 * `otherUser`'s registered key).
 */
export async function innerClient(node: NodeHandle, otherUser: string): Promise<InnerClient> {
  const r = await node.podspawn(["host-ca", "--known-hosts"]);
  if (r.code !== 0) throw new Error(`podspawn host-ca failed: ${r.stderr}`);
  const knownHosts = join(node.clientDir, "inner_known_hosts");
  await writeFile(knownHosts, r.stdout);
  const wrongCa = join(node.clientDir, "wrong_ca");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", wrongCa]);
  const wrongKnownHosts = join(node.clientDir, "wrong_known_hosts");
  await writeFile(wrongKnownHosts, `@cert-authority podspawn-ide ${await readFile(`${wrongCa}.pub`, "utf8")}`);
  const emptyKnownHosts = join(node.clientDir, "empty_known_hosts");
  await writeFile(emptyKnownHosts, "");
  const own = `${node.clientDir}/%r`;
  const configFile = join(node.clientDir, "inner_config");
  await writeFile(
    configFile,
    [
      innerBlock("ide", own, node, knownHosts),
      innerBlock("ide-wrong-ca", own, node, wrongKnownHosts),
      innerBlock("ide-unknown", own, node, emptyKnownHosts),
      innerBlock("ide-other-key", join(node.clientDir, otherUser), node, knownHosts),
    ].join("\n"),
  );
  return {
    configFile,
    knownHosts,
    ssh: (user, args, opts = {}) => runCommand("ssh", ["-F", configFile, `${user}@${opts.host ?? "ide"}`, ...args], { timeoutMs: 60_000, ...opts }),
    spawnSsh: (user, args, host = "ide") => spawn("ssh", ["-F", configFile, ...args, `${user}@${host}`], { stdio: ["pipe", "pipe", "pipe"] }),
  };
}

/** A port nobody on the host listens on right now (the kernel's pick, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

/**
 * A tiny HTTP server on 127.0.0.1:port inside the user's container (perl is in Debian's base),
 * answering every request with `body`; started over a plain session, detached from it.
 */
export async function startContainerHttp(node: NodeHandle, user: string, port: number, body: string): Promise<void> {
  const script = `$SIG{CHLD}="IGNORE"; my $s=IO::Socket::INET->new(LocalAddr=>"127.0.0.1",LocalPort=>${port},Listen=>16,ReuseAddr=>1) or die $!; while (my $c=$s->accept) { if (fork) { close $c; next } my $l; while (defined($l=<$c>)) { last if $l =~ /^\\r?\\n$/ } print $c "HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: ".length($ARGV[0])."\\r\\n\\r\\n$ARGV[0]"; close $c; exit }`;
  const r = await node.ssh(user, [`setsid nohup perl -MIO::Socket::INET -e '${script}' ${body} >/dev/null 2>&1 </dev/null &`]);
  if (r.code !== 0) throw new Error(`starting the container's HTTP server failed: ${r.stderr}`);
  const probe = `perl -MIO::Socket::INET -e 'exit(IO::Socket::INET->new("127.0.0.1:${port}") ? 0 : 1)'`;
  if (!(await eventually(async () => (await node.ssh(user, [probe])).code === 0, 15_000, 300))) throw new Error(`the container's HTTP server on ${port} never answered`);
}

/** A host-side listener on 127.0.0.1:port that counts connections and answers `body` over HTTP. */
export interface HostListener {
  readonly server: Server;
  readonly port: number;
  connections(): number;
  close(): Promise<void>;
}

export function hostHttpListener(port: number, body: string): Promise<HostListener> {
  let count = 0;
  const server = createServer((c) => {
    count++;
    c.on("error", () => undefined);
    c.once("data", () => c.end(`HTTP/1.0 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`));
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const addr = server.address();
      resolve({
        server,
        port: typeof addr === "object" && addr ? addr.port : port,
        connections: () => count,
        close: () => new Promise((r) => server.close(() => r())),
      });
    });
  });
}

/** Wait until a -L/-D listener of an ssh child accepts on 127.0.0.1:port. */
export async function waitForListener(port: number, child: ChildProcess): Promise<void> {
  const up = await eventually(
    () =>
      child.exitCode === null &&
      new Promise<boolean>((resolve) => {
        const s = connect({ port, host: "127.0.0.1" });
        s.once("connect", () => {
          s.destroy();
          resolve(true);
        });
        s.once("error", () => resolve(false));
      }),
    30_000,
    200,
  );
  if (!up) throw new Error(`ssh's forward on 127.0.0.1:${port} never listened (ssh exit ${child.exitCode})`);
}

/** One HTTP GET over a plain TCP connection to 127.0.0.1:port; the body, or null when the connection gave none. */
export function httpGet(port: number, path = "/"): Promise<string | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = connect({ port, host: "127.0.0.1" });
    s.on("data", (d: Buffer) => chunks.push(d));
    s.once("error", () => resolve(null));
    s.once("close", () => {
      const text = Buffer.concat(chunks).toString();
      const at = text.indexOf("\r\n\r\n");
      resolve(at < 0 ? null : text.slice(at + 4));
    });
    s.write(`GET ${path} HTTP/1.0\r\nHost: x\r\n\r\n`);
  });
}

/**
 * Stop an OpenSSH client with SIGTERM and wait for its exit. Debian 12's ssh 9.2 can miss a signal
 * that lands between its quit check and its poll(2) (seen here about once in eight runs, right after
 * a forwarded channel closed): the handler runs, but the client then sleeps out a 300 s poll. So the
 * signal is repeated until the client is gone, and a client still alive after 10 s fails the test.
 */
export async function stopSsh(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once("exit", (code) => resolve(code));
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    child.kill("SIGTERM");
    const code = await Promise.race([exited, new Promise<"pending">((r) => setTimeout(() => r("pending"), 250))]);
    if (code !== "pending") return code;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`ssh (pid ${child.pid}) did not exit within 10 s of SIGTERM`);
    }
  }
}
