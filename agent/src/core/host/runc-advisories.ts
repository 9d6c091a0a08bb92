/**
 * Known container escapes in runc, the OCI runtime under every container on a node (sessions,
 * pooled containers, companion services, image builds). The daemon refuses what an open one
 * exposes (see AdvisoryVector), unless the node's admin accepts it by id in config.yaml
 * (`engine.accept_runc_advisories`): a breakout turns one user's session into root on the host.
 *
 * Distributions backport fixes without moving the upstream version (Debian 12 ships 1.1.5 with
 * the CVE-2024-21626 fix), and say so in the package changelog: an advisory the changelog names
 * counts as fixed.
 */
/**
 * Who can use the escape. `session`: a process a pod user runs in their own container, through
 * the exec that starts every session — so no session may run. `image`: whoever controls an
 * image's content or a build (a Podfile's RUN steps run in containers too) — so the node's
 * default environment, built by its admin, still runs, but project environments and Podfile
 * builds do not.
 */
export type AdvisoryVector = "session" | "image";

export interface RuncAdvisory {
  readonly id: string;
  readonly vector: AdvisoryVector;
  readonly summary: string;
  /** Per release line (major.minor), the first fixed version; a line not listed is fixed if newer than every listed one. */
  readonly fixedIn: readonly string[];
}

export const RUNC_ADVISORIES: readonly RuncAdvisory[] = [
  { id: "CVE-2019-5736", vector: "session", summary: "a container process overwrites the host's runc binary", fixedIn: ["1.0.0-rc7"] },
  { id: "CVE-2021-30465", vector: "image", summary: "symlink-exchange race in mount destinations reaches host paths", fixedIn: ["1.0.0-rc95"] },
  { id: "CVE-2022-29162", vector: "session", summary: "exec'd processes got inheritable capabilities", fixedIn: ["1.1.2"] },
  { id: "CVE-2023-27561", vector: "image", summary: "AppArmor/SELinux bypass with a crafted /proc volume (CVE-2019-19921 again)", fixedIn: ["1.1.5"] },
  { id: "CVE-2024-21626", vector: "session", summary: "leaked host file descriptors let a container reach the host filesystem (Leaky Vessels)", fixedIn: ["1.1.12"] },
  { id: "CVE-2024-45310", vector: "image", summary: "a mount race creates empty files or directories on the host", fixedIn: ["1.1.14", "1.2.0-rc.3"] },
  { id: "CVE-2025-31133", vector: "image", summary: "maskedPaths race replaces /dev/null with a symlink, writes reach host procfs", fixedIn: ["1.2.8", "1.3.3", "1.4.0-rc.3"] },
  { id: "CVE-2025-52565", vector: "image", summary: "/dev/console bind-mount race writes to host procfs", fixedIn: ["1.2.8", "1.3.3", "1.4.0-rc.3"] },
  { id: "CVE-2025-52881", vector: "image", summary: "redirected procfs writes bypass LSM labels and reach host sysctls", fixedIn: ["1.2.8", "1.3.3", "1.4.0-rc.3"] },
];

/** `1.1.5`, `1.0.0-rc95`, `1.4.0-rc.3` as comparable parts; null for text that is no version. */
interface Version {
  readonly parts: readonly [number, number, number];
  /** Release candidate number; Infinity for a release (which comes after all its candidates). */
  readonly rc: number;
}

export function parseRuncVersion(text: string): Version | null {
  const m = /^(\d{1,4})\.(\d{1,4})\.(\d{1,4})(?:-rc\.?(\d{1,4}))?(?:[+~].*)?$/.exec(text);
  if (!m) return null;
  return { parts: [Number(m[1]), Number(m[2]), Number(m[3])], rc: m[4] === undefined ? Number.POSITIVE_INFINITY : Number(m[4]) };
}

function compare(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a.parts[i] !== b.parts[i]) return (a.parts[i] ?? 0) - (b.parts[i] ?? 0);
  return a.rc === b.rc ? 0 : a.rc < b.rc ? -1 : 1;
}

const line = (v: Version): string => `${v.parts[0]}.${v.parts[1]}`;

/** Whether `version` has the advisory's fix by version alone. */
export function fixedByVersion(version: Version, advisory: RuncAdvisory): boolean {
  const fixes = advisory.fixedIn.map((f) => parseRuncVersion(f)).filter((f): f is Version => f !== null);
  const sameLine = fixes.find((f) => line(f) === line(version));
  if (sameLine) return compare(version, sameLine) >= 0;
  // A line with no entry of its own: fixed only if it came after every fixed line (a line that
  // predates some fix, e.g. 1.1 for a bug fixed in 1.2.8 and 1.3.3, never got it).
  const newerFixLine = fixes.find((f) => compare(f, version) > 0);
  return newerFixLine === undefined && fixes.some((f) => compare(version, f) > 0);
}

/** `runc --version` output: the first line is `runc version <v>`. */
export function runcVersionOf(output: string): string | null {
  const m = /^runc version (\S+)$/m.exec(output);
  return m?.[1] ?? null;
}

export interface RuncExposure {
  readonly version: string;
  /** Advisories this runc has, minus what its changelog says was backported. */
  readonly open: readonly RuncAdvisory[];
}

/**
 * The advisories a runc has. `changelog`: the distribution's package changelog, or null where
 * there is none (then only the version counts). A version that cannot be read is exposed to all:
 * fail closed, the admin can accept them by id after looking.
 */
export function runcExposure(versionOutput: string, changelog: string | null): RuncExposure {
  const text = runcVersionOf(versionOutput);
  const version = text === null ? null : parseRuncVersion(text);
  const open = RUNC_ADVISORIES.filter((a) => !(version !== null && fixedByVersion(version, a)) && !(changelog !== null && new RegExp(`\\b${a.id}\\b`).test(changelog)));
  return { version: text ?? "unknown", open };
}

/** The advisories that still refuse sessions after the admin's accepted ids. */
export function refusingAdvisories(exposure: RuncExposure, accepted: readonly string[]): readonly RuncAdvisory[] {
  return exposure.open.filter((a) => !accepted.includes(a.id));
}
