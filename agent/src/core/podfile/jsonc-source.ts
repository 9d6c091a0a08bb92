import { createScanner, parseTree, printParseErrorCode, SyntaxKind, type Node, type ParseError } from "jsonc-parser";
import { InputError } from "../errors.js";
import { fieldAt, type FieldPath } from "../config/field-path.js";

/**
 * Untrusted JSONC (devcontainer.json: comments and trailing commas allowed) to plain values,
 * refusing before parsing what could hurt: too big, nested deep enough to exhaust the parser's
 * recursion, and while building: duplicate keys and `__proto__`. Like yaml-source, the result
 * remembers the line of each value.
 */
export interface JsoncSource {
  readonly file: string;
  readonly value: unknown;
  lineOf(path: FieldPath): number | undefined;
}

export const JSONC_MAX_BYTES = 1024 * 1024;
export const JSONC_MAX_DEPTH = 64;

function lineCounter(text: string): (offset: number) => number {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}

/** The scanner is iterative: a cheap depth check before the recursive parser runs. */
function checkDepth(text: string, file: string, lineAt: (offset: number) => number): void {
  const scanner = createScanner(text, true);
  let depth = 0;
  for (let kind = scanner.scan(); kind !== SyntaxKind.EOF; kind = scanner.scan()) {
    if (kind === SyntaxKind.OpenBraceToken || kind === SyntaxKind.OpenBracketToken) depth++;
    else if (kind === SyntaxKind.CloseBraceToken || kind === SyntaxKind.CloseBracketToken) depth = Math.max(0, depth - 1);
    if (depth > JSONC_MAX_DEPTH) throw new InputError(`${file}:${lineAt(scanner.getTokenOffset())}`, `nested deeper than ${JSONC_MAX_DEPTH} levels`);
  }
}

class Builder {
  readonly lines = new Map<string, number>();
  constructor(
    private readonly file: string,
    private readonly lineAt: (offset: number) => number,
  ) {}

  value(node: Node, path: FieldPath): unknown {
    this.lines.set(JSON.stringify(path), this.lineAt(node.offset));
    if (node.type === "array") return (node.children ?? []).map((c, i) => this.value(c, [...path, i]));
    if (node.type !== "object") return node.value as unknown;
    const out: Record<string, unknown> = {};
    for (const prop of node.children ?? []) {
      const [keyNode, valueNode] = prop.children ?? [];
      const key = String(keyNode?.value);
      const at = fieldAt([...path, key], this.file, this.lineAt(prop.offset));
      if (key === "__proto__") throw new InputError(at, "is not allowed as a key (it would rewrite the object's prototype)");
      if (Object.hasOwn(out, key)) throw new InputError(at, "duplicate key", "each key once per object");
      this.lines.set(JSON.stringify([...path, key]), this.lineAt(prop.offset));
      out[key] = valueNode ? this.value(valueNode, [...path, key]) : undefined;
    }
    return out;
  }
}

export function readJsonc(text: string, file: string, maxBytes = JSONC_MAX_BYTES): JsoncSource {
  if (text.length > maxBytes || Buffer.byteLength(text, "utf8") > maxBytes) throw new InputError(file, `is more than ${maxBytes} bytes`, `at most ${maxBytes} bytes`);
  const lineAt = lineCounter(text);
  checkDepth(text, file, lineAt);
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { allowTrailingComma: true, disallowComments: false, allowEmptyContent: false });
  const first = errors[0];
  if (first) throw new InputError(`${file}:${lineAt(first.offset)}`, `not valid JSON: ${printParseErrorCode(first.error)}`);
  if (!root) throw new InputError(file, "is empty", "a JSON object");
  const builder = new Builder(file, lineAt);
  const value = builder.value(root, []);
  const lineOf = (path: FieldPath): number | undefined => {
    for (let n = path.length; n >= 0; n--) {
      const line = builder.lines.get(JSON.stringify(path.slice(0, n)));
      if (line !== undefined) return line;
    }
    return undefined;
  };
  return { file, value, lineOf };
}
