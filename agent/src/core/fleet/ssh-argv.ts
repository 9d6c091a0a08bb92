import { InputError } from "../errors.js";

/**
 * `podspawn ssh NAME [ssh flags] [-- command]` hands the flags to ssh untouched, so it must know
 * where they end: a word that is neither an option nor an option's value would become ssh's
 * destination or command. The option letters are OpenSSH 9's (ssh(1)).
 */
const TAKES_VALUE = new Set("BbcDEeFIiJLlmOopQRSWw");
const STANDALONE = new Set("46AaCfGgKkMNnqsTtVvXxYy");

const ALLOWED = "ssh options such as -L 8080:localhost:8080 -p 2222 -v; the remote command goes after --";

/** Checks that `flags` is a sequence of ssh options (with their values); returns them unchanged. */
export function checkSshFlags(flags: readonly string[]): readonly string[] {
  for (let i = 0; i < flags.length; i++) {
    const arg = flags[i] as string;
    if (!arg.startsWith("-") || arg.length < 2) throw new InputError("ssh flags", `${JSON.stringify(arg)} is not an ssh option`, ALLOWED);
    for (let j = 1; j < arg.length; j++) {
      const letter = arg[j] as string;
      if (STANDALONE.has(letter)) continue;
      if (!TAKES_VALUE.has(letter)) throw new InputError("ssh flags", `-${letter} (in ${JSON.stringify(arg)}) is not an ssh option`, ALLOWED);
      // The rest of this word is the value, or else the next word is.
      if (j === arg.length - 1) {
        if (i + 1 >= flags.length) throw new InputError("ssh flags", `-${letter} needs a value`, ALLOWED);
        i++;
      }
      break;
    }
  }
  return flags;
}

/** The host part of `[user@]host` gets the fleet domain when it is a bare project name. */
export function podDestination(name: string, domain = "pod"): string {
  if (name === "" || name.startsWith("-") || /[\s\0]/.test(name)) {
    throw new InputError("NAME", `${JSON.stringify(name)} is not an ssh destination`, "[user@]project, [user@]project.pod or any ssh host");
  }
  const at = name.lastIndexOf("@");
  const host = name.slice(at + 1);
  if (host === "") throw new InputError("NAME", `${JSON.stringify(name)} has no host`, "[user@]project, [user@]project.pod or any ssh host");
  // A bare word is a project (the reference system's rule); anything with a dot or colon is a host.
  return /[.:]/.test(host) ? name : `${name}.${domain}`;
}
