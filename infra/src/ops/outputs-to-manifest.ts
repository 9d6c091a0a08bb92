import { formatFleetManifest, validateFleetManifest } from "../../../agent/src/core/fleet/fleet-manifest.js";
import { InputError } from "../../../agent/src/core/errors.js";

/**
 * Turns `cdktf deploy --outputs-file` JSON ({ stack: { <output id>: value } }) into the manifest
 * file clients fetch. The output id is `fleet_manifest`; depending on the cdktf version the file
 * nests outputs by construct (`{ manifest: { fleet_manifest } }`), so the search goes down. Validated with the client's validator so a broken deploy never publishes a broken file.
 */
export function manifestFromOutputs(outputsJson: string, stack: string, now: Date = new Date()): string {
  let outputs: unknown;
  try {
    outputs = JSON.parse(outputsJson);
  } catch (err) {
    throw new InputError("outputs file", `not JSON: ${(err as Error).message}`);
  }
  const stackOutputs = (outputs as Record<string, Record<string, unknown>> | null)?.[stack];
  if (!stackOutputs) throw new InputError("stack", `${JSON.stringify(stack)} has no outputs in the file`, Object.keys((outputs as object) ?? {}).join(", "));
  const raw = findManifest(stackOutputs);
  if (raw === undefined) throw new InputError(`${stack} outputs`, "no fleet_manifest output");
  const value: unknown = typeof raw === "string" ? JSON.parse(raw) : raw;
  const manifest = validateFleetManifest({ ...(value as object), generatedAt: now.toISOString().replace(/\.\d+Z$/, "Z") });
  return formatFleetManifest(manifest);
}

function findManifest(outputs: Record<string, unknown>): unknown {
  for (const [key, value] of Object.entries(outputs)) {
    if (key === "fleet_manifest" || key.endsWith("_fleet_manifest")) return value;
  }
  for (const value of Object.values(outputs)) {
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      const found = findManifest(value as Record<string, unknown>);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}
