import { READY_MARKER_DIR } from "./ready-marker.js";

/**
 * The setup marker: written by the daemon, next to the ready marker, once a new container's
 * create-time setup (dotfiles, repos, on_create) has finished. It is what makes on_create run once
 * per container: a container adopted after a daemon restart, or started again after a stop, has
 * it and runs nothing again; one without it (the daemon died mid-setup) is replaced, never
 * attached to half set up. Like the ready marker it names its container, so a marker baked into
 * an image proves nothing.
 */
export const SETUP_MARKER_PATH = `${READY_MARKER_DIR}/setup-done`;

const VERSION = 1;

export function renderSetupMarker(containerId: string): string {
  return JSON.stringify({ v: VERSION, container: containerId }) + "\n";
}

export function isSetupMarkerOf(text: string, containerId: string): boolean {
  try {
    const doc = JSON.parse(text) as unknown;
    return typeof doc === "object" && doc !== null && (doc as { v?: unknown }).v === VERSION && (doc as { container?: unknown }).container === containerId;
  } catch {
    return false;
  }
}
