import { InputError } from "../errors.js";
import type { PublicKey } from "./keys.js";
import { validateUsername } from "./username.js";

/**
 * The one line format sshd sees for a pod user's key, whether it comes from `auth-keys` or from the
 * rendered AuthorizedKeysFile. `restrict` turns off every forwarding, X11, agent and user rc;
 * `agent-forwarding` gives the agent back (spawn relays it into the container, never as a host
 * path; port, X11 and stream-local forwarding stay off); `pty` gives the PTY back because
 * interactive shells need it. The forced command is absolute because
 * sshd runs it with PATH=/usr/bin:/bin:/usr/sbin:/sbin.
 */
export function renderAuthorizedLine(commandPath: string, user: string, key: PublicKey): string {
  if (!commandPath.startsWith("/") || /["\\\s]/.test(commandPath)) {
    throw new InputError("command path", `${JSON.stringify(commandPath)} must be absolute and contain no quotes, backslashes or blanks`);
  }
  validateUsername(user);
  return `restrict,agent-forwarding,pty,command="${commandPath} spawn --user ${user}" ${key.type} ${key.base64}`;
}

export function renderAuthorizedKeys(commandPath: string, user: string, keys: readonly PublicKey[]): string {
  return keys.map((k) => renderAuthorizedLine(commandPath, user, k) + "\n").join("");
}
