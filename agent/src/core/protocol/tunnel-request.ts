import { readPort } from "../config/units.js";

/**
 * The reserved command that asks for a TCP tunnel into the user's own container instead of a
 * process: `podspawn-tunnel PORT` in SSH_ORIGINAL_COMMAND, exactly (the word, one space, a decimal
 * port 1-65535 without leading zeros). Anything else, even close to it, is an ordinary command and
 * runs in the user's shell. The request names a port only: the daemon picks the address (the
 * container's own, on the user's own network), so no other host can ever be asked for.
 */
export const TUNNEL_COMMAND = "podspawn-tunnel";

const TUNNEL_PATTERN = /^podspawn-tunnel (\S+)$/;

/** The port of a tunnel request, or null if `command` is not one. */
export function parseTunnelRequest(command: string | null): number | null {
  const m = command === null ? null : TUNNEL_PATTERN.exec(command);
  const port = m ? readPort(m[1]) : null;
  return port?.ok ? port.value : null;
}

/** The command line that asks for a tunnel to `port` (the client side of the same contract). */
export function tunnelCommand(port: number): string {
  return `${TUNNEL_COMMAND} ${port}`;
}
