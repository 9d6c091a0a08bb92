import { spawn } from "node:child_process";
import { constants } from "node:os";

/**
 * Runs a program on the user's own terminal (stdin, stdout and stderr inherited) and resolves with
 * its exit status, as a shell would: 128 + the signal's number when a signal ended it. Argv only,
 * never a shell. No deadline: the program is the user's session (`podspawn ssh`) or a launcher
 * they asked for (`podspawn open`), and it lasts as long as they want. While it runs, Ctrl-C and
 * friends are the child's to handle (they reach it through the terminal), not ours.
 */
export type RunInteractive = (file: string, args: readonly string[], env: NodeJS.ProcessEnv) => Promise<number>;

const FORWARDED = ["SIGINT", "SIGQUIT", "SIGTSTP"] as const;

export const runInteractive: RunInteractive = (file, args, env) =>
  new Promise((resolve, reject) => {
    const ignore = (): void => undefined;
    for (const s of FORWARDED) process.on(s, ignore);
    const done = (): void => {
      for (const s of FORWARDED) process.off(s, ignore);
    };
    const child = spawn(file, [...args], { stdio: "inherit", shell: false, env: { ...env } });
    child.once("error", (err) => {
      done();
      reject(err);
    });
    child.once("close", (code, signal) => {
      done();
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
