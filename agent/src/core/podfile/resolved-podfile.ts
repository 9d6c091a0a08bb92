import type { DotfilesSpec, Mount, PodfileMode, PortStrategy, RepoSpec, ServiceSpec } from "./schema.js";

/**
 * A Podfile with its `extends` chain merged and its defaults applied: what the compiler, the
 * content tag and the environment plan read. Plain data; nothing in it names a file, so two
 * nodes resolving the same Podfiles hold equal values.
 */
export interface ResolvedPodfile {
  /** Of the Podfile itself (not inherited); null: the project's name is shown. */
  readonly name: string | null;
  readonly base: string;
  /** Entries as written (`git`, `nodejs@22`), no removals, one per package name. */
  readonly packages: readonly string[];
  /** null: bash if the image has it, else sh (what the account planner picks today). */
  readonly shell: string | null;
  /** Unexpanded (`${PODSPAWN_USER}` stays); no empty values. */
  readonly env: Readonly<Record<string, string>>;
  readonly services: readonly ServiceSpec[];
  readonly dotfiles: DotfilesSpec | null;
  readonly repos: readonly RepoSpec[];
  readonly ports: { readonly expose: readonly number[]; readonly strategy: PortStrategy };
  /** null: the node's figure. */
  readonly resources: { readonly cpus: number | null; readonly memoryBytes: number | null };
  readonly onCreate: readonly string[];
  readonly onStart: readonly string[];
  readonly extraCommands: readonly string[];
  /** null: the node's session.mode. */
  readonly mode: PodfileMode | null;
  /** Relative to the user's home; null: the home itself. */
  readonly workspace: string | null;
  readonly mount: Mount;
  /** null: the default branch of the project's repository. */
  readonly branch: string | null;
}
