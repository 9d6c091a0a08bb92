import { fieldAt, type FieldPath } from "../config/field-path.js";

/**
 * What an importer (devcontainer.json, compose files) could not carry over, one line per field:
 * `.devcontainer.json:5: features: not supported; left out`. Nothing is dropped without a line.
 */
export class ImportNotes {
  private readonly lines: string[] = [];

  note(file: string, line: number | undefined, path: FieldPath, why: string): void {
    this.lines.push(`${fieldAt(path, file, line)}: ${why}`);
  }

  get all(): readonly string[] {
    return [...this.lines];
  }
}

/** Quotes one argument for `sh -c` when it needs it (devcontainer command arrays are argv). */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}
