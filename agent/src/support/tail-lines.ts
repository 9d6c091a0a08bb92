/**
 * The last lines of a byte stream, bounded in lines and in characters per line, for a failure
 * message: however much a process writes, this holds at most `maxLines * maxChars` characters.
 */
export class TailLines {
  private readonly lines: string[] = [];
  private partial = "";

  constructor(
    private readonly maxLines = 20,
    private readonly maxChars = 400,
  ) {}

  push(chunk: Buffer | string): void {
    const parts = (this.partial + (typeof chunk === "string" ? chunk : chunk.toString("utf8"))).split("\n");
    this.partial = (parts.pop() ?? "").slice(-this.maxChars);
    for (const p of parts) this.keep(p);
  }

  /** The lines so far, the unfinished last one included. */
  get value(): readonly string[] {
    return this.partial === "" ? [...this.lines] : [...this.lines, this.partial].slice(-this.maxLines);
  }

  private keep(line: string): void {
    this.lines.push(line.length > this.maxChars ? line.slice(0, this.maxChars) : line);
    if (this.lines.length > this.maxLines) this.lines.shift();
  }
}
