import { Composer, isAlias, isMap, isScalar, isSeq, Lexer, LineCounter, Parser, type Alias, type CST, type Document, type Node, type Pair } from "yaml";
import { InputError } from "../errors.js";
import { fieldAt, type FieldPath } from "./field-path.js";

/**
 * Untrusted YAML text to plain values, refusing what could hurt the reader before it can: a file
 * too big, nesting deep enough to exhaust the stack (the `yaml` composer recurses; at ~10k levels
 * Node dies of it instead of throwing), aliases that expand exponentially (a "billion laughs"
 * bomb is a few hundred bytes), duplicate keys (which one wins is a guess), non-string keys and
 * `__proto__`. Errors name the file and line. The result remembers where each value came from.
 */
export interface YamlLimits {
  /** UTF-8 size of the text. @default 1 MiB */
  readonly maxBytes: number;
  /** Nesting of mappings and lists, counting through aliases. @default 64 */
  readonly maxDepth: number;
  /** Alias nodes (`*name`) in the text. @default 100 */
  readonly maxAliases: number;
  /** Nodes that expanding the aliases may add to the document. @default 10000 */
  readonly maxAliasedNodes: number;
}

export const DEFAULT_YAML_LIMITS: YamlLimits = { maxBytes: 1024 * 1024, maxDepth: 64, maxAliases: 100, maxAliasedNodes: 10_000 };

export interface YamlSource {
  readonly file: string;
  /** Plain JSON-like values: objects, arrays, strings, numbers, booleans, null. */
  readonly value: unknown;
  /** 1-based line of the value at `path` (a mapping entry's key line), else of its nearest ancestor in the text. */
  lineOf(path: FieldPath): number | undefined;
}

export function readYaml(text: string, file: string, limits: Partial<YamlLimits> = {}): YamlSource {
  const lim = { ...DEFAULT_YAML_LIMITS, ...limits };
  const bytes = utf8Length(text, lim.maxBytes);
  if (bytes > lim.maxBytes) throw new InputError(file, `is more than ${lim.maxBytes} bytes`, `at most ${lim.maxBytes} bytes`);
  const lines = new LineCounter();
  const lineAt = (offset: number): number => lines.linePos(offset).line;
  scanNesting(text, file, lim.maxDepth);
  const tokens = Array.from(new Parser(lines.addNewLine).parse(text));
  checkTokenDepth(tokens, lim.maxDepth, (offset) => new InputError(`${file}:${lineAt(offset)}`, `nested deeper than ${lim.maxDepth} levels`));
  const docs = Array.from(new Composer({ version: "1.2", schema: "core", resolveKnownTags: false, uniqueKeys: false, merge: false, strict: true, prettyErrors: false }).compose(tokens, true, text.length));
  if (docs.length > 1) throw new InputError(`${file}:${lineAt(docs[1]?.range[0] ?? 0)}`, "holds more than one YAML document", "one document (no second '---')");
  const doc = docs[0] as Document.Parsed;
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) throw new InputError(`${file}:${lineAt(problem.pos[0])}`, `not valid YAML: ${problem.message.split("\n")[0] ?? ""}`);
  new NodeChecker(doc, file, lineAt, lim).check(doc.contents);
  return { file, value: doc.toJS({ maxAliasCount: -1 }) as unknown, lineOf: (path) => locate(doc, path, lineAt) };
}

/** UTF-8 byte count, stopping once past `cap` (the text may be huge; no copy is made). */
function utf8Length(text: string, cap: number): number {
  if (text.length > cap) return text.length;
  let n = 0;
  for (let i = 0; i < text.length && n <= cap; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/**
 * A fast first pass over the lexer's tokens: flow brackets (`[[[[...`) and compact block
 * indicators on one line (`- - - - x`) are the cheap ways to nest deep, and building the syntax
 * tree of a megabyte of them takes a second. The exact check on the tree follows.
 */
function scanNesting(text: string, file: string, maxDepth: number): void {
  let flow = 0;
  let indicators = 0;
  let line = 1;
  for (const token of new Lexer().lex(text)) {
    if (token === "[" || token === "{") flow++;
    else if (token === "]" || token === "}") flow = Math.max(0, flow - 1);
    else if (flow === 0 && (token === "-" || token === "?" || token === ":")) indicators++;
    if (token.includes("\n")) {
      line += token.split("\n").length - 1;
      indicators = 0;
    }
    if (flow > maxDepth || indicators > maxDepth) throw new InputError(`${file}:${line}`, `nested deeper than ${maxDepth} levels`);
  }
}

/** Depth of the syntax tree, walked with an explicit stack: the tree may be deeper than the call stack. */
function checkTokenDepth(tokens: readonly CST.Token[], maxDepth: number, tooDeep: (offset: number) => Error): void {
  const stack: [CST.Token, number][] = tokens.map((t) => [t, 0]);
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [token, depth] = next;
    if (depth > maxDepth) throw tooDeep(token.offset);
    if (token.type === "document" && token.value) stack.push([token.value, depth]);
    if (token.type === "block-map" || token.type === "block-seq" || token.type === "flow-collection") {
      for (const item of token.items) {
        if (item.key) stack.push([item.key, depth + 1]);
        if (item.value) stack.push([item.value, depth + 1]);
      }
    }
  }
}

interface Extent {
  /** Nodes in the fully expanded subtree. */
  readonly size: number;
  /** Levels in the fully expanded subtree (a scalar is 0). */
  readonly height: number;
}

/** Walks the composed document once: keys, aliases and their expansion. */
class NodeChecker {
  private aliases = 0;
  private literalNodes = 0;
  private readonly extents = new Map<Node, Extent>();
  private readonly expanding = new Set<Node>();

  constructor(
    private readonly doc: Document.Parsed,
    private readonly file: string,
    private readonly lineAt: (offset: number) => number,
    private readonly lim: YamlLimits,
  ) {}

  check(root: Node | null): void {
    const total = root ? this.extent(root, [], 0, true).size : 0;
    if (total - this.literalNodes > this.lim.maxAliasedNodes) {
      throw new InputError(this.file, `its aliases expand to ${total - this.literalNodes} more nodes (a YAML bomb?)`, `aliases adding at most ${this.lim.maxAliasedNodes} nodes`);
    }
  }

  private refuse(node: Node | null | undefined, path: FieldPath, problem: string, allowed?: string): never {
    const offset = node?.range?.[0];
    throw new InputError(fieldAt(path, this.file, offset === undefined ? undefined : this.lineAt(offset)), problem, allowed);
  }

  /** `literal`: the node is written in the text here (not reached through an alias). */
  private extent(node: Node, path: FieldPath, depth: number, literal: boolean): Extent {
    if (literal) this.literalNodes++;
    if (isAlias(node)) return this.aliasExtent(node, path, depth);
    const known = this.extents.get(node);
    if (known && !literal) return this.withinDepth(node, path, depth, known);
    let size = 1;
    let height = 0;
    const add = (child: Node | null, childPath: FieldPath): void => {
      if (!child) return;
      const e = this.extent(child, childPath, depth + 1, literal);
      size += e.size;
      height = Math.max(height, e.height + 1);
    };
    if (isMap(node)) {
      const seen = new Map<string, Pair>();
      for (const pair of node.items) {
        const key = this.keyOf(pair, path, seen);
        add(pair.value as Node | null, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => add(item as Node | null, [...path, i]));
    }
    const extent = { size, height };
    this.extents.set(node, extent);
    return this.withinDepth(node, path, depth, extent);
  }

  private withinDepth(node: Node, path: FieldPath, depth: number, e: Extent): Extent {
    if (depth + e.height > this.lim.maxDepth) this.refuse(node, path, `nested deeper than ${this.lim.maxDepth} levels`);
    return e;
  }

  private aliasExtent(node: Alias, path: FieldPath, depth: number): Extent {
    if (++this.aliases > this.lim.maxAliases) this.refuse(node, path, `more than ${this.lim.maxAliases} aliases`, `at most ${this.lim.maxAliases} '*name' aliases`);
    const target = node.resolve(this.doc);
    if (!target) this.refuse(node, path, `alias *${node.source} has no anchor before it`);
    if (this.expanding.has(target)) this.refuse(node, path, `alias *${node.source} refers to a node that contains it`);
    this.expanding.add(target);
    try {
      return this.extent(target, path, depth, false);
    } finally {
      this.expanding.delete(target);
    }
  }

  private keyOf(pair: Pair, path: FieldPath, seen: Map<string, Pair>): string {
    const k = pair.key as Node | null;
    const value = isScalar(k) ? k.value : undefined;
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      this.refuse(k, path, "has a key that is not a string", "keys that are plain words");
    }
    const key = String(value);
    if (key === "__proto__") this.refuse(k, [...path, key], "is not allowed as a key (it would rewrite the object's prototype)");
    const earlier = seen.get(key);
    if (earlier) {
      const line = this.lineAt((earlier.key as Node).range?.[0] ?? 0);
      this.refuse(k, [...path, key], `duplicate key, already set on line ${line}`, "each key once per mapping");
    }
    seen.set(key, pair);
    return key;
  }
}

function keyText(pair: Pair): string | undefined {
  const k = pair.key as Node | null;
  return isScalar(k) ? String(k.value) : undefined;
}

/** Follows `path` through the written text (not through aliases) as far as it goes. */
function locate(doc: Document.Parsed, path: FieldPath, lineAt: (offset: number) => number): number | undefined {
  let node: Node | null = doc.contents;
  let line = node?.range ? lineAt(node.range[0]) : undefined;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => keyText(p) === String(seg));
      if (!pair) break;
      const keyRange = (pair.key as Node).range;
      if (keyRange) line = lineAt(keyRange[0]);
      node = pair.value as Node | null;
    } else if (isSeq(node) && typeof seg === "number") {
      const item = node.items[seg] as Node | undefined;
      if (!item) break;
      if (item.range) line = lineAt(item.range[0]);
      node = item;
    } else break;
  }
  return line;
}
