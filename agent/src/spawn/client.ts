import { connect } from "node:net";
import { userInfo } from "node:os";
import { userSocketPath, type Layout } from "../core/host/layout.js";
import { isValidUsername } from "../core/users/username.js";
import { buildHello, parseProjectFlag, parseUserFlag } from "./hello.js";
import { say, SPAWN_FAILURE, type SpawnIo } from "./io.js";
import { SpawnSession } from "./spawn-session.js";

export { SPAWN_FAILURE, type SpawnIo } from "./io.js";

/**
 * The forced command: a thin relay between sshd's session (stdio of this process) and the node
 * daemon. It must stay tiny (no YAML, no dockerode): it starts once per login. It never opens the
 * Docker socket and has no say over who the user is: the daemon knows that from which socket
 * accepted the connection.
 */
export function runSpawn(argv: readonly string[], layout: Layout, io: SpawnIo): Promise<number> {
  const user = accountToServe(argv, userInfo().username, io);
  if (user === null) return Promise.resolve(SPAWN_FAILURE);
  const hello = buildHello(io, parseProjectFlag(argv));
  return new SpawnSession(io, hello, connect(userSocketPath(layout, user))).run();
}

/**
 * The key lines name the user (`--user`); sshd's `ForceCommand`, the second layer for logins
 * that did not come through a key line, cannot (it takes no %u), so without the flag the user is
 * the account running this. Either way it must be that account: the socket decides anyway.
 */
function accountToServe(argv: readonly string[], me: string, io: SpawnIo): string | null {
  if (!argv.includes("--user")) {
    if (isValidUsername(me)) return me;
    say(io.stderr, `this account (${JSON.stringify(me)}) is not a pod user; spawn is meant to be run by sshd as a forced command`);
    return null;
  }
  const user = parseUserFlag(argv);
  if (!user) {
    say(io.stderr, "spawn needs --user NAME with a valid pod username; it is meant to be run by sshd as a forced command");
    return null;
  }
  if (me !== user) {
    say(io.stderr, `this account is ${JSON.stringify(me)}, not ${JSON.stringify(user)}; refusing`);
    return null;
  }
  return user;
}
