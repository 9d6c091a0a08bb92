import { DRAIN_MARK } from "../host/drain.js";

/**
 * The one thing a ProxyCommand can read from a node in clear text: the SSH identification line
 * the server sends first (`SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3 podspawn-draining`, RFC 4253
 * 4.2). A draining node appends the mark with sshd's VersionAddendum, so `connect` can go to
 * another node before ssh has sent a byte of its own.
 */

/** RFC 4253 caps the identification line at 255 bytes; what does not end by then is not one. */
export const MAX_BANNER_BYTES = 1024;

/** The first line in `buf` (without CR/LF), or null while no newline has arrived. */
export function firstLine(buf: Buffer): string | null {
  const nl = buf.indexOf(0x0a);
  if (nl < 0) return null;
  return buf.subarray(0, nl).toString("latin1").replace(/\r$/, "");
}

/** True for an SSH identification line whose comment words include the drain mark. */
export function isDrainingBanner(line: string): boolean {
  if (!line.startsWith("SSH-")) return false;
  return line.split(" ").slice(1).includes(DRAIN_MARK);
}

/**
 * The order to try nodes in: rendezvous order, with the manifest's drained nodes moved to the end
 * (kept in their own rendezvous order), so they are used only when nothing else answers.
 */
export function drainedLast<N extends { readonly drained?: boolean | undefined }>(ranked: readonly N[]): N[] {
  return [...ranked.filter((n) => n.drained !== true), ...ranked.filter((n) => n.drained === true)];
}
