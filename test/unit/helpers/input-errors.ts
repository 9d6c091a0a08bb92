import assert from "node:assert/strict";
import { InputError } from "../../../agent/src/core/errors.js";

/**
 * The property every parser of outside input keeps: it returns, or it throws our InputError whose
 * message starts with the field it names (never a TypeError, a RangeError or a library's error).
 * Returns the error, or null when `run` returned.
 */
export function onlyInputError(run: () => unknown): InputError | null {
  try {
    run();
    return null;
  } catch (err) {
    return checked(err);
  }
}

export async function onlyInputErrorAsync(run: () => Promise<unknown>): Promise<InputError | null> {
  try {
    await run();
    return null;
  } catch (err) {
    return checked(err);
  }
}

function checked(err: unknown): InputError {
  if (!(err instanceof InputError)) assert.fail(`threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)} instead of an InputError`);
  assert.ok(err.field.length > 0, "the error names a field");
  assert.ok(err.message.startsWith(`${err.field}: `), `the message starts with its field: ${err.message}`);
  assert.ok(err.problem.length > 0, "the error says what was wrong");
  return err;
}

/** numRuns for parser properties: enough to find shape bugs, small enough for the unit suite. */
export const RUNS = { numRuns: 200 } as const;
