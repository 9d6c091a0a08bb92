import type { ListedEnvironment } from "../protocol/control-protocol.js";
import { formatAge } from "./durations.js";
import { textTable } from "./text-table.js";

/** `podspawn list`: one row per environment, ages and lifetimes relative to `nowMs`. */

export const LIST_HEADER = ["USER", "PROJECT", "CONTAINER", "STATUS", "SESSIONS", "AGE", "LIFETIME-LEFT"] as const;

function lifetimeLeft(expiresAt: string | null, nowMs: number): string {
  if (expiresAt === null) return "-";
  const left = Date.parse(expiresAt) - nowMs;
  return left <= 0 ? "expiring" : formatAge(left);
}

/** Sorted by user, then project, so two runs compare line by line. */
export function renderEnvironmentList(envs: readonly ListedEnvironment[], nowMs: number): string {
  if (envs.length === 0) return "no environments\n";
  const sorted = [...envs].sort((a, b) => (a.user === b.user ? a.project.localeCompare(b.project) : a.user.localeCompare(b.user)));
  const rows = sorted.map((e) => [e.user, e.project, e.container, e.status, String(e.sessions), formatAge(nowMs - Date.parse(e.createdAt)), lifetimeLeft(e.expiresAt, nowMs)]);
  return textTable([[...LIST_HEADER], ...rows]);
}
