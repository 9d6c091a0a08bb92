import { LABEL } from "./container-spec.js";
import { isPooled } from "./pool-spec.js";

/**
 * Reattach or recreate, decided from facts only: what the daemon's table holds, what the engine
 * has under the container's name, and the wanted spec's labels. Environments does the I/O on
 * either side of it (inspect before, create/start/remove after).
 */

/** What the daemon's table holds for (user, project). */
export interface KnownEnvironment {
  readonly containerId: string;
  /** Live sessions counted on that container. */
  readonly sessions: number;
  /** This daemon wrote that container's ready marker, or read it there (it knows its account). */
  readonly ready: boolean;
}

/** What the engine has under the container's name. */
export interface FoundContainer {
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly running: boolean;
  /** A valid ready marker was read from it (true) or not (false); null: not read (see mustReadMarker). */
  readonly marker: boolean | null;
}

export type AttachDecision =
  /** Nothing under that name: create it (and the network), write the account, start it. */
  | { readonly action: "create" }
  /** Attach as it is. `adopt`: the table must take it over (it knew another container or none, or had not checked it). */
  | { readonly action: "reuse"; readonly adopt: boolean }
  /** Start it (stopped behind our back), then attach. */
  | { readonly action: "start"; readonly adopt: boolean }
  /** Remove it, then create it again. */
  | { readonly action: "recreate"; readonly reason: "not-ready" | "config-changed" }
  /** Labelled for someone else: never attach to it, never touch it. */
  | { readonly action: "refuse"; readonly owner: string };

/** The labels that say whose a container is; the spec hash is not one of them. */
const OWNER_LABELS = [LABEL.managed, LABEL.instance, LABEL.user, LABEL.project] as const;

/** Who a foreign container belongs to, for the admin's log line. */
function ownerOf(labels: Readonly<Record<string, string>>, wanted: Readonly<Record<string, string>>): string {
  const who = `${labels[LABEL.user] ?? "nobody"}/${labels[LABEL.project] ?? "nothing"}`;
  if (labels[LABEL.managed] !== wanted[LABEL.managed]) return `${who} (not managed by podspawn)`;
  if (labels[LABEL.instance] !== wanted[LABEL.instance]) return `${who} of instance ${labels[LABEL.instance] ?? "none"}`;
  return who;
}

/** A claimed pooled container keeps its pool labels: whose it is, its ready marker says (read for user and project). */
const POOLED_OWNER_LABELS = [LABEL.managed, LABEL.instance] as const;

function isOwned(found: FoundContainer, wanted: Readonly<Record<string, string>>): boolean {
  const labels = isPooled(found.labels) ? POOLED_OWNER_LABELS : OWNER_LABELS;
  return labels.every((l) => found.labels[l] !== undefined && found.labels[l] === wanted[l]);
}

/** Whether the config asks for another container than `found`; a claimed pooled one is compared by its pool template. */
function specChanged(found: FoundContainer, wanted: Readonly<Record<string, string>>, wantedPoolHash: string | null): boolean {
  if (isPooled(found.labels)) return wantedPoolHash === null || found.labels[LABEL.specHash] !== wantedPoolHash;
  return found.labels[LABEL.specHash] !== wanted[LABEL.specHash];
}

/** The table's word counts only for the very container it knows (ids are never reused). */
function trusted(known: KnownEnvironment | null, found: FoundContainer): boolean {
  return known !== null && known.ready && known.containerId === found.id;
}

/**
 * Whether the daemon has to read the ready marker before deciding: only for a container that is
 * ours and that it has not written or checked itself. A warm login costs no extra engine call.
 */
export function mustReadMarker(known: KnownEnvironment | null, found: Omit<FoundContainer, "marker">, wanted: Readonly<Record<string, string>>): boolean {
  const probe = { ...found, marker: null };
  return isOwned(probe, wanted) && !trusted(known, probe);
}

/**
 * `wantedPoolHash`: the pool template hash of the wanted spec (core/container/pool-spec), null when
 * it cannot be pooled; it decides "config-changed" for a container that came from the pool.
 */
export function decideAttach(known: KnownEnvironment | null, found: FoundContainer | null, wanted: Readonly<Record<string, string>>, wantedPoolHash: string | null = null): AttachDecision {
  if (found === null) return { action: "create" };
  if (!isOwned(found, wanted)) return { action: "refuse", owner: ownerOf(found.labels, wanted) };
  // A marker that was read wins over memory; one that was not read counts only for a trusted container.
  const ready = found.marker ?? trusted(known, found);
  if (!ready) return { action: "recreate", reason: "not-ready" };
  // Sessions on another container (swapped in behind our back) do not pin this one's limits.
  const sessionsHere = known !== null && known.containerId === found.id ? known.sessions : 0;
  if (specChanged(found, wanted, wantedPoolHash) && sessionsHere === 0) return { action: "recreate", reason: "config-changed" };
  const adopt = !trusted(known, found);
  return found.running ? { action: "reuse", adopt } : { action: "start", adopt };
}
