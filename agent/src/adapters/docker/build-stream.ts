import { BUILD_ERROR_TAIL_LINES, type BuildProgress, type FailedStep } from "../../core/ports/image-builder.js";

/**
 * The Engine API's `/build` answer, read as it arrives: newline-separated JSON messages
 * (`{"stream": "Step 2/5 : RUN make\n"}`, `{"errorDetail": {...}, "error": "..."}`), whose `stream`
 * text is split across messages at arbitrary points. Turned into our BuildProgress events, with
 * what a failure message needs kept on the side: the step that was running and its last lines.
 * No I/O: the adapter feeds it bytes.
 */

const STEP = /^Step (\d+)\/(\d+) : (.*)$/;
// The classic builder colours a RUN's stderr (ESC[91m ... ESC[0m); other escapes too, just in case.
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;
/** A message line longer than this is not one the engine writes; it is cut, not buffered forever. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/** One output line as kept and reported. */
export const MAX_LINE_CHARS = 4096;

interface EngineMessage {
  readonly stream?: unknown;
  readonly error?: unknown;
  readonly errorDetail?: { readonly message?: unknown };
}

/** A progress bar rewrites its line with `\r`: only the last state of the line counts. */
function cleanLine(raw: string): string {
  const line = raw.replace(ANSI, "");
  const last = line.split("\r").filter((s) => s !== "").pop() ?? "";
  return last.length > MAX_LINE_CHARS ? `${last.slice(0, MAX_LINE_CHARS)}...` : last;
}

export class BuildStreamParser {
  private bytes = "";
  private text = "";
  private stepNow: FailedStep | null = null;
  private readonly tailLines: string[] = [];
  private errorText: string | null = null;

  constructor(private readonly onProgress: (event: BuildProgress) => void = () => undefined) {}

  /** The step running when the stream ended or failed; null before the first one. */
  get step(): FailedStep | null {
    return this.stepNow;
  }

  /** The engine's error message, if the build failed. */
  get error(): string | null {
    return this.errorText;
  }

  /** The last lines of output of the current step (at most BUILD_ERROR_TAIL_LINES). */
  get tail(): readonly string[] {
    return this.tailLines;
  }

  push(chunk: Buffer | string): void {
    this.bytes += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    let nl: number;
    while ((nl = this.bytes.indexOf("\n")) >= 0) {
      this.message(this.bytes.slice(0, nl));
      this.bytes = this.bytes.slice(nl + 1);
    }
    if (this.bytes.length > MAX_MESSAGE_BYTES) this.bytes = "";
  }

  /** The stream ended: whatever is left is the last message, and the last partial line. */
  end(): void {
    if (this.bytes.trim() !== "") this.message(this.bytes);
    this.bytes = "";
    if (this.text !== "") this.line(this.text);
    this.text = "";
  }

  private message(raw: string): void {
    if (raw.trim() === "") return;
    let msg: EngineMessage;
    try {
      msg = JSON.parse(raw) as EngineMessage;
    } catch {
      return;
    }
    if (typeof msg.stream === "string") this.streamText(msg.stream);
    const error = typeof msg.errorDetail?.message === "string" ? msg.errorDetail.message : typeof msg.error === "string" ? msg.error : null;
    if (error !== null) {
      this.errorText = cleanLine(error);
      this.onProgress({ kind: "output", line: this.errorText });
    }
  }

  private streamText(s: string): void {
    this.text += s;
    let nl: number;
    while ((nl = this.text.indexOf("\n")) >= 0) {
      this.line(this.text.slice(0, nl));
      this.text = this.text.slice(nl + 1);
    }
    if (this.text.length > MAX_LINE_CHARS * 4) {
      this.line(this.text);
      this.text = "";
    }
  }

  private line(raw: string): void {
    const line = cleanLine(raw);
    if (line.trim() === "") return;
    const step = STEP.exec(line);
    if (step) {
      this.stepNow = { step: Number(step[1]), total: Number(step[2]), instruction: step[3] ?? "" };
      this.tailLines.length = 0;
      this.onProgress({ kind: "step", ...this.stepNow });
      return;
    }
    this.onProgress({ kind: "output", line });
    if (isBuilderChatter(line)) return;
    this.tailLines.push(line);
    if (this.tailLines.length > BUILD_ERROR_TAIL_LINES) this.tailLines.shift();
  }
}

/** The builder's own bookkeeping lines: in the log, never in an error's tail. */
function isBuilderChatter(line: string): boolean {
  return /^ ---> /.test(line) || /^Removing intermediate container /.test(line) || /^Successfully (built|tagged) /.test(line);
}
