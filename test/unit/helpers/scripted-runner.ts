import type { ProcessResult, RunOptions, RunProcess } from "../../../agent/src/adapters/process/run-process.js";

/** A scripted RunProcess: the first answer that matches wins, else a silent success. */
export type Answer = (file: string, args: readonly string[]) => Partial<ProcessResult> | undefined;

export interface Scripted {
  readonly run: RunProcess;
  /** Every call as "file arg arg ...". */
  readonly calls: string[];
  readonly options: (RunOptions | undefined)[];
}

export function scriptedRunner(answers: readonly Answer[]): Scripted {
  const calls: string[] = [];
  const options: (RunOptions | undefined)[] = [];
  const run: RunProcess = async (file, args, opts) => {
    calls.push([file, ...args].join(" "));
    options.push(opts);
    for (const a of answers) {
      const r = a(file, args);
      if (r) return { code: 0, signal: null, timedOut: false, stdout: "", stderr: "", truncated: false, ...r };
    }
    return { code: 0, signal: null, timedOut: false, stdout: "", stderr: "", truncated: false };
  };
  return { run, calls, options };
}
