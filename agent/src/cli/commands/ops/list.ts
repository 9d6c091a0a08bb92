import { renderEnvironmentList } from "../../../core/ops/environment-list.js";
import { defineCommand, type Command } from "../../command.js";
import { daemonAnswer } from "./daemon-answer.js";

export function makeListCommand(now: () => number = Date.now): Command {
  return defineCommand(
    {
      name: "list",
      summary: "list environments: user, project, container, status, sessions, age, lifetime left",
      flags: { json: { type: "boolean", description: "print the daemon's answer as JSON (ISO times) instead of a table" } },
      description: `Asks the node daemon (over its root-only control socket) for every environment it manages:
USER PROJECT CONTAINER STATUS SESSIONS AGE LIFETIME-LEFT. STATUS is in-use (sessions connected),
idle (waiting out the grace period), stopped (the engine says the container is not running; the
next login starts it) or unknown (the engine did not answer). AGE counts from the container's
creation; LIFETIME-LEFT is the time until session.max_lifetime removes it ('-' without one).
Exits 1 if the daemon is not running.`,
    },
    async ({ flags }, io) => {
      const res = await daemonAnswer(io.layout, { op: "list" });
      io.stdout.write(flags.json ? JSON.stringify({ environments: res.environments }, null, 2) + "\n" : renderEnvironmentList(res.environments, now()));
      return 0;
    },
  );
}

export const listCommand: Command = makeListCommand();
