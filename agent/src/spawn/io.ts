/** The streams and environment sshd gave the forced command. */
export interface SpawnIo {
  readonly stdin: NodeJS.ReadStream;
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly env: NodeJS.ProcessEnv;
  /** Where spawn's own diagnostics go (syslog in the real entry). @default dropped */
  readonly diagnose?: (line: string) => void;
}

/** Exit status when podspawn itself fails (ssh uses 255 for its own errors too). */
export const SPAWN_FAILURE = 255;

/** Our one-line messages: the only bytes on the user's stderr that are not the session's. */
export function say(stderr: NodeJS.WritableStream, line: string): void {
  stderr.write(`podspawn: ${line}\n`);
}
