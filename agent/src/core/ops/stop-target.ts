import { validateProject } from "../container/project.js";
import { InputError } from "../errors.js";
import { validateUsername } from "../users/username.js";

/** What `podspawn stop` ends: every environment of a user, or the one of a (user, project). */
export interface StopTarget {
  readonly user: string;
  /** Null: all of the user's environments. */
  readonly project: string | null;
}

/** `USER` or `USER@PROJECT` (the reference system's form). */
export function parseStopTarget(text: string): StopTarget {
  const at = text.indexOf("@");
  if (at < 0) return { user: validateUsername(text, "USER"), project: null };
  if (text.indexOf("@", at + 1) >= 0) throw new InputError("USER[@PROJECT]", `${JSON.stringify(text)} has more than one @`, "alice or alice@web");
  return { user: validateUsername(text.slice(0, at), "USER"), project: validateProject(text.slice(at + 1), "PROJECT") };
}
