import type { ErrorCode } from "./error-codes.js";

/**
 * Errors split by whose fault they are (see STYLE.md): `InputError` is bad input from a user or an
 * admin and carries the field, what was wrong and what is allowed; anything else is our bug.
 */
export class InputError extends Error {
  override readonly name = "InputError";
  constructor(
    readonly field: string,
    readonly problem: string,
    readonly allowed?: string,
  ) {
    super(`${field}: ${problem}${allowed ? ` (allowed: ${allowed})` : ""}`);
  }
}

/** A failure the user should see as one line (daemon down, image missing), with an admin detail. */
export class UserFacingError extends Error {
  override readonly name = "UserFacingError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly detail?: string,
  ) {
    super(message);
  }
}

/** The catalog code of any thrown value: its own, `bad-input` for an InputError, else `internal`. */
export function errorCodeOf(err: unknown): ErrorCode {
  if (err instanceof UserFacingError) return err.code;
  if (err instanceof InputError) return "bad-input";
  return "internal";
}

/** Short, printable description of any thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
