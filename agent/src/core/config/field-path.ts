/** A position inside a parsed document: mapping keys and list indexes from the top. */
export type FieldPath = readonly (string | number)[];

// A trailing '!' stays plain: a Podfile's `packages!:` (replace, not merge) reads `packages![0]`.
const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*!?$/;

/** `users[1].keys[0]`; keys that would read ambiguously are quoted: `env["A.B"]`. */
export function formatPath(path: FieldPath): string {
  if (path.length === 0) return "(top level)";
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (PLAIN_KEY.test(seg)) out += out === "" ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** The `field` of an InputError about a document: `file:line: path`, each part only when known. */
export function fieldAt(path: FieldPath, file?: string, line?: number): string {
  const where = file === undefined ? "" : line === undefined ? `${file}: ` : `${file}:${line}: `;
  return `${where}${formatPath(path)}`;
}
