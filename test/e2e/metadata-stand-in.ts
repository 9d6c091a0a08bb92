/**
 * What a container can reach, asked against listeners that answer whoever gets through: a probe
 * run inside a container (or on the host, to prove the listener answers), and a stand-in for the
 * cloud metadata service on 169.254.169.254:80 in a network namespace of the test's own, routed
 * from the host exactly as a cloud node routes it.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer, type AddressInfo, type Server } from "node:net";
import { runCommand } from "../../scripts/local-node.js";
import { eventually } from "./harness.js";

export const METADATA_ADDRESS = "169.254.169.254";

/** Connect from wherever it runs; prints the first line the far end sends, then rc. */
export function probe(host: string, port: number): string {
  return `timeout 3 bash -c 'exec 3<>/dev/tcp/${host}/${port} && head -1 <&3'; echo "rc=$?"`;
}

export async function fromHost(host: string, port: number): Promise<string> {
  return (await runCommand("bash", ["-c", probe(host, port)])).stdout;
}

async function must(args: readonly string[]): Promise<void> {
  const r = await runCommand("ip", args);
  assert.equal(r.code, 0, `ip ${args.join(" ")}: ${r.stderr}`);
}

/** Names of the namespace and of the veth pair's two ends (each file its own, so tests never share them). */
export interface StandInNames {
  readonly netns: string;
  readonly hostDev: string;
  readonly nsDev: string;
}

/**
 * The stand-in, listening (it answers "METADATA"); whatever a previous run left under the same
 * names goes first. Returns the clean-up: the listener killed, the route, link and namespace gone.
 */
export async function startMetadataStandIn(names: StandInNames): Promise<() => Promise<void>> {
  const { netns, hostDev, nsDev } = names;
  let standIn: ReturnType<typeof spawn> | null = null;
  const drop = async (): Promise<void> => {
    if (standIn && standIn.exitCode === null && standIn.signalCode === null) standIn.kill("SIGKILL");
    await runCommand("ip", ["route", "del", `${METADATA_ADDRESS}/32`, "dev", hostDev]);
    await runCommand("ip", ["link", "del", hostDev]);
    await runCommand("ip", ["netns", "del", netns]);
  };
  await drop();
  await must(["netns", "add", netns]);
  await must(["link", "add", hostDev, "type", "veth", "peer", "name", nsDev]);
  await must(["link", "set", nsDev, "netns", netns]);
  await must(["addr", "add", "169.254.169.1/32", "dev", hostDev]);
  await must(["link", "set", hostDev, "up"]);
  await must(["route", "add", `${METADATA_ADDRESS}/32`, "dev", hostDev]);
  await must(["-n", netns, "link", "set", "lo", "up"]);
  await must(["-n", netns, "addr", "add", `${METADATA_ADDRESS}/32`, "dev", nsDev]);
  await must(["-n", netns, "link", "set", nsDev, "up"]);
  await must(["-n", netns, "route", "add", "default", "dev", nsDev]);
  const js = `require("net").createServer(s=>{s.on("error",()=>{});s.end("METADATA\\n")}).listen(80,"${METADATA_ADDRESS}",()=>console.log("ready"))`;
  const child = spawn("ip", ["netns", "exec", netns, process.execPath, "-e", js], { stdio: ["ignore", "pipe", "inherit"] });
  standIn = child;
  let out = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => (out += d));
  assert.ok(await eventually(() => out.includes("ready"), 10_000), "the stand-in listens");
  return drop;
}

/** A listener on every host address that answers `HOST-SERVICE` to whoever reaches it. */
export async function listenOnHost(): Promise<{ readonly port: number; close(): void }> {
  const server: Server = createServer((s) => {
    s.on("error", () => undefined);
    s.end("HOST-SERVICE\n");
  });
  await new Promise<void>((r) => server.listen(0, "0.0.0.0", r));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

/** The gateway address of a user's bridge network: the host, as the containers on it see it. */
export async function bridgeGateway(network: string): Promise<string> {
  const r = await runCommand("docker", ["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", network]);
  assert.equal(r.code, 0, r.stderr);
  const gateway = r.stdout.trim();
  assert.match(gateway, /^\d+\.\d+\.\d+\.\d+$/);
  return gateway;
}
