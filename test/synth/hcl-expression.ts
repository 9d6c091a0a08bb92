/**
 * An evaluator for the small part of Terraform's expression language that our hand-written HCL
 * uses (infra/src/constructs/tls-private-key.ts), so a test can run those expressions without a
 * `terraform` binary (a fresh Debian has none). It follows Terraform's documented semantics for
 * each function it knows and refuses everything else, so an expression that drifts outside this
 * subset fails the test instead of being evaluated wrongly.
 *
 * Grammar: numbers (and unary minus), "strings" (no ${} templates), identifiers bound by `for`, function calls,
 * `[a, b]` tuples, `[for x in list : expr]`, `+ - * / %` with the usual precedence, parentheses.
 */
export type HclValue = number | string | HclValue[];
type Scope = ReadonlyMap<string, HclValue>;
type Node = (scope: Scope) => HclValue;

const FUNCTIONS: Record<string, (...args: HclValue[]) => HclValue> = {
  // replace(string, substring, replacement): a /regex/ substring is out of this subset.
  replace: (s, sub, rep) => {
    const [text, from, to] = [str(s), str(sub), str(rep)];
    if (from.length > 1 && from.startsWith("/") && from.endsWith("/")) throw new Error("replace() with a regular expression is not supported here");
    return text.split(from).join(to);
  },
  trimprefix: (s, prefix) => (str(s).startsWith(str(prefix)) ? str(s).slice(str(prefix).length) : str(s)),
  format: (spec, ...args) => format(str(spec), args),
  // split("", s) is Go's strings.Split with an empty separator: one element per character.
  split: (sep, s) => (str(sep) === "" ? [...str(s)] : str(s).split(str(sep))),
  join: (sep, list) => tuple(list).map(str).join(str(sep)),
  index: (list, value) => {
    const i = tuple(list).findIndex((v) => v === value);
    if (i < 0) throw new Error(`index(): item ${JSON.stringify(value)} not found`);
    return i;
  },
  // substr(string, offset, length): length -1 means "to the end"; an offset past the end is an error.
  substr: (s, offset, length) => {
    const chars = [...str(s)];
    const [o, l] = [int(offset), int(length)];
    if (o < 0 || o > chars.length) throw new Error(`substr(): offset ${o} out of range for length ${chars.length}`);
    return chars.slice(o, l === -1 ? undefined : o + l).join("");
  },
  range: (...args) => {
    const [start, limit, step] = args.length === 1 ? [0, int(args[0]!), 1] : [int(args[0]!), int(args[1]!), args.length > 2 ? int(args[2]!) : 1];
    const out: number[] = [];
    for (let i = start; step > 0 ? i < limit : i > limit; i += step) out.push(i);
    return out;
  },
  sum: (list) => {
    const items = tuple(list);
    if (items.length === 0) throw new Error("sum() of an empty list");
    return items.map(num).reduce((a, b) => a + b, 0);
  },
  pow: (a, b) => num(a) ** num(b),
};

/** Terraform's format() for the verbs used here: %s, %d, %x with an optional 0 flag and width. */
function format(spec: string, args: HclValue[]): string {
  let next = 0;
  return spec.replace(/%(0?)(\d*)([sdx%])/g, (_m, zero: string, width: string, verb: string) => {
    if (verb === "%") return "%";
    const arg = args[next++];
    if (arg === undefined) throw new Error(`format(): not enough arguments for ${JSON.stringify(spec)}`);
    const text = verb === "s" ? (typeof arg === "number" ? String(arg) : str(arg)) : int(arg).toString(verb === "x" ? 16 : 10);
    return text.padStart(Number(width || 0), zero ? "0" : " ");
  });
}

function str(v: HclValue): string {
  if (typeof v !== "string") throw new Error(`expected a string, got ${JSON.stringify(v)}`);
  return v;
}
function num(v: HclValue): number {
  if (typeof v !== "number") throw new Error(`expected a number, got ${JSON.stringify(v)}`);
  return v;
}
function int(v: HclValue): number {
  if (!Number.isInteger(num(v))) throw new Error(`expected a whole number, got ${v}`);
  return v as number;
}
function tuple(v: HclValue): HclValue[] {
  if (!Array.isArray(v)) throw new Error(`expected a list, got ${JSON.stringify(v)}`);
  return v;
}

const TOKEN = /\s*(?:(\d+(?:\.\d+)?)|("(?:[^"\\$]|\\.|\$(?!\{))*")|([A-Za-z_][A-Za-z0-9_-]*)|([-+*/%()[\],:]))/y;

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    if (/^\s*$/.test(text.slice(TOKEN.lastIndex))) break;
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(text);
    if (!m) throw new Error(`cannot read the expression at ${JSON.stringify(text.slice(at, at + 20))}`);
    tokens.push(m[1] ?? m[2] ?? m[3] ?? m[4]!);
  }
  return tokens;
}

class Parser {
  private pos = 0;
  constructor(private readonly tokens: string[]) {}

  parse(): Node {
    const node = this.additive();
    if (this.pos !== this.tokens.length) throw new Error(`unexpected ${JSON.stringify(this.tokens[this.pos])}`);
    return node;
  }
  private peek(): string | undefined {
    return this.tokens[this.pos];
  }
  private take(expected?: string): string {
    const t = this.tokens[this.pos++];
    if (t === undefined || (expected !== undefined && t !== expected)) throw new Error(`expected ${expected ?? "more"}, got ${JSON.stringify(t)}`);
    return t;
  }
  private binary(next: () => Node, ops: readonly string[]): Node {
    let left = next();
    while (ops.includes(this.peek() ?? "")) {
      const op = this.take();
      const [l, r] = [left, next()];
      left = (s) => arithmetic(op, num(l(s)), num(r(s)));
    }
    return left;
  }
  private additive(): Node {
    return this.binary(() => this.multiplicative(), ["+", "-"]);
  }
  private multiplicative(): Node {
    return this.binary(() => this.primary(), ["*", "/", "%"]);
  }
  private primary(): Node {
    const t = this.take();
    if (t === "-") {
      const operand = this.primary();
      return (s) => -num(operand(s));
    }
    if (/^\d/.test(t)) return () => Number(t);
    if (t.startsWith('"')) {
      const value = JSON.parse(t) as string;
      return () => value;
    }
    if (t === "(") {
      const inner = this.additive();
      this.take(")");
      return inner;
    }
    if (t === "[") return this.peek() === "for" ? this.forExpression() : this.list();
    if (/^[A-Za-z_]/.test(t)) return this.peek() === "(" ? this.call(t) : (s) => lookup(s, t);
    throw new Error(`unexpected ${JSON.stringify(t)}`);
  }
  private list(): Node {
    const items: Node[] = [];
    while (this.peek() !== "]") {
      items.push(this.additive());
      if (this.peek() === ",") this.take(",");
    }
    this.take("]");
    return (s) => items.map((n) => n(s));
  }
  private forExpression(): Node {
    this.take("for");
    const name = this.take();
    this.take("in");
    const source = this.additive();
    this.take(":");
    const body = this.additive();
    this.take("]");
    return (s) => tuple(source(s)).map((v) => body(new Map([...s, [name, v]])));
  }
  private call(name: string): Node {
    const fn = FUNCTIONS[name];
    if (!fn) throw new Error(`function ${name}() is not in this evaluator's subset`);
    this.take("(");
    const args: Node[] = [];
    while (this.peek() !== ")") {
      args.push(this.additive());
      if (this.peek() === ",") this.take(",");
    }
    this.take(")");
    return (s) => fn(...args.map((a) => a(s)));
  }
}

function arithmetic(op: string, a: number, b: number): number {
  switch (op) {
    case "+": return a + b;
    case "-": return a - b;
    case "*": return a * b;
    case "/": return a / b;
    default: return a % b;
  }
}

function lookup(scope: Scope, name: string): HclValue {
  const v = scope.get(name);
  if (v === undefined) throw new Error(`unknown variable ${name}`);
  return v;
}

/** Evaluates one Terraform expression in the subset above. */
export function evaluateHcl(expression: string): HclValue {
  return new Parser(tokenize(expression)).parse()(new Map());
}
