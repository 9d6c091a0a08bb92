import { InputError } from "../errors.js";
import { localPodfilePath, type LoadedPodfile, type PodfileLoader } from "../podfile/resolve.js";
import type { PodfileSnapshot } from "./project-record.js";

/**
 * The Podfile files a project was added with. The daemon resolves a project's Podfile from its
 * snapshot only (no file system), so what users get changes only when the admin updates it.
 */

/** Reads `extends` from the snapshot; anything not in it was not there when it was taken. */
export function snapshotLoader(snapshot: PodfileSnapshot): PodfileLoader {
  return async (ref, fromDir) => {
    const file = localPodfilePath(ref, fromDir);
    const text = Object.hasOwn(snapshot.files, file) ? snapshot.files[file] : undefined;
    if (text === undefined) throw new InputError(file, "is not in the project's snapshot", "the files the Podfile extended when the project was added or updated (podspawn update-project reads them again)");
    return { text, file };
  };
}

/** A loader that remembers what it read: the entry plus these files are the snapshot to keep. */
export function recordingLoader(load: PodfileLoader): { readonly load: PodfileLoader; readonly loaded: ReadonlyMap<string, string> } {
  const loaded = new Map<string, string>();
  return {
    loaded,
    load: async (ref, fromDir): Promise<LoadedPodfile> => {
      const got = await load(ref, fromDir);
      loaded.set(got.file, got.text);
      return got;
    },
  };
}

export function takeSnapshot(entry: LoadedPodfile, loaded: ReadonlyMap<string, string>): PodfileSnapshot {
  return { entry: entry.file, files: Object.fromEntries([[entry.file, entry.text], ...loaded]) };
}
