/** Signals that end our side of the session, and the status they leave with (128 + number). */
export const HANGUP_SIGNALS = { SIGHUP: 1, SIGTERM: 15 } as const;
export type HangupSignal = keyof typeof HANGUP_SIGNALS;

export interface SignalHandlers {
  hangup(signal: HangupSignal): void;
  /** Without a PTY, Ctrl-C on the client is not a byte in the stream: it arrives as SIGINT. */
  interrupt?: () => void;
}

/** Listen for the process signals a session cares about; returns the stop. */
export function onSignals(handlers: SignalHandlers): () => void {
  const listeners: Array<[NodeJS.Signals, () => void]> = [];
  for (const sig of Object.keys(HANGUP_SIGNALS) as HangupSignal[]) listeners.push([sig, () => handlers.hangup(sig)]);
  if (handlers.interrupt) listeners.push(["SIGINT", handlers.interrupt]);
  for (const [sig, h] of listeners) process.on(sig, h);
  return () => {
    for (const [sig, h] of listeners) process.off(sig, h);
  };
}

/** The terminal changed size (SIGWINCH, or the stream's own event); returns the stop. */
export function onResize(stdout: NodeJS.WriteStream, handler: () => void): () => void {
  process.on("SIGWINCH", handler);
  stdout.on("resize", handler);
  return () => {
    process.off("SIGWINCH", handler);
    stdout.off("resize", handler);
  };
}
