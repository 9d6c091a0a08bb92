import { describeError } from "../../core/errors.js";
import { failed, passed, type DoctorCheck } from "../../core/ops/doctor-report.js";
import { configuredPoolNetworks, DOCKER_DEFAULT_POOL_NETWORKS, enginePoolUsage, MIN_FREE_NETWORKS, poolHasHeadroom, type AddressPoolSpec, type PoolUsage } from "../../core/ops/address-pool.js";
import type { DoctorDeps } from "./deps.js";

/** Checks of the daemon and what it drives: config, the daemon itself, the engine, image, pool, disk. */

export const configCheck: DoctorCheck<DoctorDeps> = {
  name: "config",
  async run(d) {
    try {
      const c = await d.loadConfig();
      return passed(`${d.layout.configFile} is valid (image ${c.image}, mode ${c.session.mode})`);
    } catch (err) {
      return failed(describeError(err), `fix ${d.layout.configFile} (reference: docs/operations.md#configyaml); the daemon keeps its previous config until then`);
    }
  },
};

export const daemonCheck: DoctorCheck<DoctorDeps> = {
  name: "daemon",
  async run(d) {
    const fix = `start it: ${d.layout.command} daemon (systemctl start ${d.layout.systemdUnit} under systemd)`;
    try {
      const res = await d.control({ op: "status" });
      if (res === null) return failed(`not running (no ${d.layout.controlSocket})`, fix);
      if (!res.ok) return failed(`answered with an error: ${res.error}`, "read the daemon log");
      return passed(`answering on ${d.layout.controlSocket} (${res.containers.length} environment(s), ${res.sessions.length} with sessions)`);
    } catch (err) {
      return failed(describeError(err), "read the daemon log; restart the daemon if it is stuck");
    }
  },
};

export const engineCheck: DoctorCheck<DoctorDeps> = {
  name: "engine",
  async run(d) {
    try {
      const info = await d.engine.info();
      return passed(`Docker ${info.serverVersion} at ${d.dockerSocket}`);
    } catch (err) {
      return failed(`not reachable at ${d.dockerSocket}: ${describeError(err)}`, "start the Docker engine (bash scripts/provision-host.sh starts dockerd), or point the daemon and doctor at its socket with --docker-socket");
    }
  },
};

export const imageCheck: DoctorCheck<DoctorDeps> = {
  name: "image",
  async run(d) {
    const image = (await d.loadConfig().catch(() => null))?.image;
    if (image === undefined) return failed("config.yaml does not parse, so the image is unknown", "fix config.yaml (see the config check)");
    try {
      if (await d.engine.imageExists(image)) return passed(`${image} is present`);
      return failed(`${image} is not in the engine: every login would fail`, "build it: node dist/scripts/build-image.js --only default (or docker load it, or set image: in config.yaml)");
    } catch (err) {
      return failed(`cannot ask the engine for ${image}: ${describeError(err)}`, "start the Docker engine (see the engine check)");
    }
  },
};

/** Minimum free space where containers and the audit log are written. */
export const MIN_FREE_BYTES = 1024 ** 3;

export const diskCheck: DoctorCheck<DoctorDeps> = {
  name: "disk",
  async run(d) {
    const dataRoot = await d.engine.info().then((i) => i.dataRoot, () => null);
    const places = [...new Set([dataRoot, d.layout.stateDir].filter((p): p is string => p !== null))];
    const shown: string[] = [];
    for (const p of places) {
      const free = await d.fs.freeBytes(p).catch(() => null);
      if (free === null) return failed(`cannot read the free space of ${p}`, `check that ${p} exists (podspawn install creates ${d.layout.stateDir})`);
      const gib = (free / 1024 ** 3).toFixed(1);
      if (free < MIN_FREE_BYTES) return failed(`${p} has ${gib} GiB free, less than 1 GiB`, `free space on the filesystem of ${p} (old images, logs)`);
      shown.push(`${p} ${gib} GiB free`);
    }
    return passed(shown.join(", "));
  },
};

async function dockerPools(d: DoctorDeps): Promise<{ networks: number; source: string } | null> {
  const text = await d.fs.readText("/etc/docker/daemon.json").catch(() => null);
  if (text === null) return { networks: DOCKER_DEFAULT_POOL_NETWORKS, source: "Docker's default address pools" };
  let pools: unknown;
  try {
    pools = (JSON.parse(text) as { "default-address-pools"?: unknown })["default-address-pools"];
  } catch {
    return null;
  }
  if (pools === undefined) return { networks: DOCKER_DEFAULT_POOL_NETWORKS, source: "Docker's default address pools" };
  const networks = Array.isArray(pools) ? configuredPoolNetworks(pools as AddressPoolSpec[]) : null;
  return networks === null ? null : { networks, source: "default-address-pools in /etc/docker/daemon.json" };
}

/** The daemon's own pool when it reports one, else the engine's networks against Docker's pools. */
async function poolUsage(d: DoctorDeps): Promise<PoolUsage | string> {
  const reported = await d.control({ op: "capacity" }).catch(() => null);
  if (reported?.ok && reported.addressPool) return { ...reported.addressPool, source: "the daemon's address pool" };
  const pools = await dockerPools(d);
  if (pools === null) return "/etc/docker/daemon.json does not parse or has a malformed default-address-pools";
  const bridges = await d.engine.bridgeNetworks().catch((err: unknown) => describeError(err));
  if (typeof bridges === "string") return `cannot count the engine's networks: ${bridges}`;
  return enginePoolUsage(bridges, pools.networks, pools.source);
}

export const addressPoolCheck: DoctorCheck<DoctorDeps> = {
  name: "address-pool",
  async run(d) {
    const usage = await poolUsage(d);
    if (typeof usage === "string") return failed(usage, "fix /etc/docker/daemon.json or start the engine");
    const detail = `${usage.free} user network(s) free, ${usage.used} in use (${usage.source})`;
    if (poolHasHeadroom(usage)) return passed(detail);
    return failed(`${detail}: fewer than ${MIN_FREE_NETWORKS}, new users' logins will soon fail`, "lower network_linger, remove networks nobody uses, or give dockerd larger default-address-pools (docs/operations.md, Capacity)");
  },
};
