import { formatDrainState, OPEN, parseDrainState, type DrainState } from "../../core/host/drain.js";
import { readCappedTextFile } from "./capped-file.js";
import { writeFileAtomic } from "./atomic-file.js";

/** `<stateDir>/drain.json`: whether the node is drained, kept across daemon restarts and upgrades. */
export function drainFile(stateDir: string): string {
  return `${stateDir}/drain.json`;
}

/** Missing means open. A file that cannot be read as a drain state is an InputError naming it. */
export async function loadDrainState(file: string): Promise<DrainState> {
  const text = await readCappedTextFile(file, 4096);
  return text === null ? OPEN : parseDrainState(text, file);
}

export async function saveDrainState(file: string, state: DrainState): Promise<void> {
  await writeFileAtomic(file, formatDrainState(state), { mode: 0o600, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });
}
