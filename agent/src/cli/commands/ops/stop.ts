import { parseStopTarget } from "../../../core/ops/stop-target.js";
import { defineCommand, type Command } from "../../command.js";
import { daemonAnswer } from "./daemon-answer.js";

/** Removing containers and volumes takes the engine a while per item. */
const STOP_TIMEOUT_MS = 60_000;

const plural = (n: number, one: string): string => `${n} ${one}${n === 1 ? "" : "s"}`;

export const stopCommand: Command = defineCommand(
  {
    name: "stop",
    summary: "end a user's sessions and remove their environments (--purge: home volumes too)",
    args: [{ name: "USER[@PROJECT]", description: "every environment of USER, or only the one of PROJECT" }],
    flags: { purge: { type: "boolean", description: "also delete the persistent home volume(s) (session.mode: persistent): their files are gone for good" } },
    description: `Ends the user's live sessions (each is told on its stderr: 'podspawn: your environment was
stopped by the node's admin', and ssh exits 255), then removes the container(s), sessions or not.
The user stays registered and may log in again at once: a fresh container is made. Without
--purge a persistent home volume is kept, so the next container has the same home. A user who is
neither registered nor has anything on this node, or a project the user has nothing of, is an
error naming it (and nothing changes).`,
    notes: `Examples: podspawn stop alice          podspawn stop alice@web --purge`,
  },
  async ({ flags, args }, io) => {
    const target = parseStopTarget(args[0] ?? "");
    const res = await daemonAnswer(io.layout, { op: "stop", user: target.user, project: target.project, purge: flags.purge }, STOP_TIMEOUT_MS);
    const what = target.project === null ? target.user : `${target.user}@${target.project}`;
    const volumes = flags.purge ? `, deleted ${plural(res.volumes, "home volume")}` : "";
    io.stdout.write(`stopped ${what}: ended ${plural(res.sessions, "session")}, removed ${plural(res.environments, "container")}${volumes}\n`);
    return 0;
  },
);
