import type { NodeConfig } from "../config/node-config.js";
import { resolvePodfile, type ResolvedPodfile, type ResourceCaps } from "../podfile/index.js";
import { defaultEnvironment } from "./default-environment.js";
import { snapshotLoader } from "./podfile-snapshot.js";
import type { ProjectRecord } from "./project-record.js";

/**
 * A project's environment as a resolved Podfile, from its record alone: its snapshot (extends
 * included), or the node's default environment for a project without a Podfile. Pure: the same
 * record and node give the same result on every call, which is what a login plans from.
 */
export async function resolveRecord(record: ProjectRecord | null, config: NodeConfig, caps: ResourceCaps): Promise<ResolvedPodfile> {
  const snapshot = record?.podfile ?? null;
  if (snapshot === null) return defaultEnvironment(config);
  const text = snapshot.files[snapshot.entry] ?? "";
  return (await resolvePodfile(text, snapshot.entry, { load: snapshotLoader(snapshot), bundledBaseImage: config.image, caps })).podfile;
}
