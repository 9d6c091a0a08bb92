import Docker from "dockerode";
import { rejectAfter } from "../../support/deadline.js";

/**
 * What `podspawn doctor` asks the engine, read-only and each call bounded: the daemon's own
 * runtime port has no business answering "how many bridge networks does this engine have".
 */
export interface EngineInfo {
  readonly serverVersion: string;
  /** Where images and containers live (the disk-space check looks there). */
  readonly dataRoot: string;
}

export interface EngineProbe {
  info(): Promise<EngineInfo>;
  imageExists(ref: string): Promise<boolean>;
  /** Bridge networks on the engine, anybody's: each holds one subnet of the address pools. */
  bridgeNetworks(): Promise<number>;
}

export const ENGINE_PROBE_TIMEOUT_MS = 5000;

function statusCode(err: unknown): number | undefined {
  return typeof err === "object" && err !== null ? (err as { statusCode?: number }).statusCode : undefined;
}

export function dockerEngineProbe(socketPath: string, timeoutMs = ENGINE_PROBE_TIMEOUT_MS): EngineProbe {
  const docker = new Docker({ socketPath });
  const bounded = <T>(what: string, work: Promise<T>): Promise<T> => rejectAfter(work, timeoutMs, `the engine did not answer ${what} within ${timeoutMs} ms`);
  return {
    async info() {
      const i = (await bounded("info", docker.info())) as { ServerVersion?: string; DockerRootDir?: string };
      return { serverVersion: i.ServerVersion ?? "unknown", dataRoot: i.DockerRootDir ?? "/var/lib/docker" };
    },
    async imageExists(ref) {
      try {
        await bounded(`image inspect ${ref}`, docker.getImage(ref).inspect());
        return true;
      } catch (err) {
        if (statusCode(err) === 404) return false;
        throw err;
      }
    },
    async bridgeNetworks() {
      const nets = await bounded("network list", docker.listNetworks({ filters: { driver: ["bridge"] } }));
      return nets.length;
    },
  };
}
