/**
 * The reserved command that asks for a TCP tunnel into the user's own container instead of a
 * process: `podspawn-tunnel PORT` in SSH_ORIGINAL_COMMAND, exactly (the word, one space, a decimal
 * port 1-65535 without leading zeros). Anything else, even close to it, is an ordinary command and
 * runs in the user's shell. The request names a port only: the daemon picks the address (the
 * container's own, on the user's own network), so no other host can ever be asked for.
 */
export const TUNNEL_COMMAND = "podspawn-tunnel";

const TUNNEL_PATTERN = /^podspawn-tunnel ([1-9][0-9]{0,4})$/;

/** The port of a tunnel request, or null if `command` is not one. */
export function parseTunnelRequest(command: string | null): number | null {
  if (command === null) return null;
  const m = TUNNEL_PATTERN.exec(command);
  if (!m) return null;
  const port = Number(m[1]);
  return port <= 65535 ? port : null;
}

/** The command line that asks for a tunnel to `port` (the client side of the same contract). */
export function tunnelCommand(port: number): string {
  return `${TUNNEL_COMMAND} ${port}`;
}
