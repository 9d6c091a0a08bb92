/**
 * The benchmark's sections beyond login latency (scripts/bench.ts), chosen with
 * `--sections login,throughput,memory,ide` (default: all) and sized by their own flags.
 */
import type { BenchNode } from "../bench-node.js";
import { measureMemory, renderMemory, type MemoryOptions, type MemoryReport } from "./memory.js";
import { measureThroughput, renderThroughput, type ThroughputReport } from "./throughput.js";
import { measureIde, renderIde, type IdeOptions, type IdeReport } from "./ide.js";

const ALL = ["login", "throughput", "memory", "ide"] as const;
type Section = (typeof ALL)[number];

export const SECTION_FLAGS = {
  sections: { type: "string", default: ALL.join(",") },
  "throughput-mib": { type: "string", default: "256" },
  "throughput-runs": { type: "string", default: "7" },
  "memory-sessions": { type: "string", default: "20" },
  "memory-mib": { type: "string", default: "1024" },
  "idle-sessions": { type: "string", default: "20,100" },
  "ide-mib": { type: "string", default: "64" },
  "ide-runs": { type: "string", default: "7" },
} as const;

export interface Sections {
  readonly login: boolean;
  readonly throughput?: { readonly sizeMiB: number; readonly runs: number };
  readonly memory?: MemoryOptions;
  readonly ide?: IdeOptions;
}

function int(name: string, raw: unknown, min: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected an integer >= ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

export function parseSections(values: Record<string, unknown>): Sections {
  const chosen = String(values["sections"]).split(",").map((s) => s.trim());
  for (const c of chosen) if (!(ALL as readonly string[]).includes(c)) throw new Error(`--sections: unknown section ${JSON.stringify(c)} (allowed: ${ALL.join(", ")})`);
  const has = (s: Section): boolean => chosen.includes(s);
  const idle = String(values["idle-sessions"]).split(",").map((x) => int("idle-sessions", x, 1));
  return {
    login: has("login"),
    ...(has("throughput") ? { throughput: { sizeMiB: int("throughput-mib", values["throughput-mib"], 1), runs: int("throughput-runs", values["throughput-runs"], 3) } } : {}),
    ...(has("memory") ? { memory: { sessions: int("memory-sessions", values["memory-sessions"], 1), sizeMiB: int("memory-mib", values["memory-mib"], 1), idleCounts: idle } } : {}),
    ...(has("ide") ? { ide: { sizeMiB: int("ide-mib", values["ide-mib"], 1), runs: int("ide-runs", values["ide-runs"], 3) } } : {}),
  };
}

export interface SectionResults {
  readonly text: string;
  readonly json: { readonly throughput?: ThroughputReport; readonly memory?: MemoryReport; readonly ide?: IdeReport };
}

export async function runSections(node: BenchNode, s: Sections, log: (line: string) => void): Promise<SectionResults> {
  let text = "";
  const json: { throughput?: ThroughputReport; memory?: MemoryReport; ide?: IdeReport } = {};
  if (s.throughput) {
    json.throughput = await measureThroughput(node, s.throughput, log);
    text += "\n" + renderThroughput(json.throughput);
  }
  if (s.memory) {
    json.memory = await measureMemory(node, s.memory, log);
    text += "\n" + renderMemory(json.memory);
  }
  if (s.ide) {
    json.ide = await measureIde(node, s.ide, log);
    text += "\n" + renderIde(json.ide);
  }
  return { text, json };
}

/** Output when only these sections ran (no login table). */
export function writeSections(r: SectionResults, asJson: boolean): void {
  if (asJson) {
    process.stderr.write(r.text);
    process.stdout.write(JSON.stringify(r.json, null, 2) + "\n");
  } else {
    process.stdout.write(r.text);
  }
}
