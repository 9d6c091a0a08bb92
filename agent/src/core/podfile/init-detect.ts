import { INIT_TEMPLATES, type InitTemplate } from "./init-templates.js";

/**
 * Which starter Podfile `podspawn init` offers, from the names of the files at the top of a
 * project directory. The rules are the reference system's: each template has marker files and
 * a priority; fullstack needs all of its markers (package.json and go.mod); the highest priority
 * wins, then the most markers found, then the order below. Nothing found: minimal.
 */
interface Rule {
  readonly template: InitTemplate;
  readonly markers: readonly string[];
  readonly priority: number;
  readonly all: boolean;
}

const RULES: readonly Rule[] = [
  { template: "fullstack", markers: ["package.json", "go.mod"], priority: 20, all: true },
  { template: "go", markers: ["go.mod", "go.sum"], priority: 10, all: false },
  { template: "node", markers: ["package.json"], priority: 10, all: false },
  { template: "python", markers: ["pyproject.toml", "setup.py", "requirements.txt"], priority: 10, all: false },
  { template: "rust", markers: ["Cargo.toml"], priority: 10, all: false },
];

export interface Detection {
  readonly template: InitTemplate;
  /** The file that decided it; null for minimal. */
  readonly marker: string | null;
}

export function detectProject(files: Iterable<string>): Detection {
  const present = new Set(files);
  let best: { rule: Rule; found: string[] } | null = null;
  for (const rule of RULES) {
    const found = rule.markers.filter((m) => present.has(m));
    if (found.length === 0 || (rule.all && found.length !== rule.markers.length)) continue;
    if (!best || rule.priority > best.rule.priority || (rule.priority === best.rule.priority && found.length > best.found.length)) best = { rule, found };
  }
  return best ? { template: best.rule.template, marker: best.found[0] ?? null } : { template: "minimal", marker: null };
}

export interface StarterPodfile extends Detection {
  readonly text: string;
}

/** The starter Podfile text for a directory holding `files`. */
export function starterPodfile(files: Iterable<string>): StarterPodfile {
  const d = detectProject(files);
  return { ...d, text: INIT_TEMPLATES[d.template] };
}
