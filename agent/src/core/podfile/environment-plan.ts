import type { SessionMode } from "../config/node-config.js";
import type { ContainerSpec, NetworkSpec } from "../container/container-spec.js";
import type { PortStrategy } from "./schema.js";

/**
 * What the daemon applies for one (user, project) whose environment is a Podfile: the contract
 * between this pure half and the runtime half (image builder, services, hooks, clones). Every
 * name and label is derived from validated ids and the Podfile; nothing typed at login is in it.
 */

export type ImagePlan =
  /** Nothing to build (no packages, no extra_commands): the container runs the base as it is. */
  | { readonly kind: "existing"; readonly image: string }
  /**
   * Build `dockerfile` (the whole build context is that one file) and tag it `tag`, unless an
   * image with that tag exists: the tag is a content hash (content-tag.ts), so it never goes stale.
   */
  | { readonly kind: "build"; readonly tag: string; readonly base: string; readonly dockerfile: string };

export interface SessionSettings {
  readonly mode: SessionMode;
  /** The account's login shell; null: bash if the image has it, else sh. */
  readonly shell: string | null;
  /** Where sessions and hooks start, relative to the account's home; null: the home itself. */
  readonly workdir: string | null;
  /**
   * `NAME=value`, sorted by name, `${PODSPAWN_USER}` and `${PODSPAWN_PROJECT}` expanded, plus
   * PODSPAWN_USER and PODSPAWN_PROJECT themselves. Given to every exec (sessions, hooks, clones):
   * the image carries only the part known at build time.
   */
  readonly env: readonly string[];
}

/** The network services and the main container share: per (user, project), so names never clash across projects. */
export interface ServicesNetworkSpec extends NetworkSpec {
  /** No gateway: services reach nothing outside it; the main container keeps its own network for egress. */
  readonly internal: true;
}

export interface ServiceVolumePlan {
  /** `<instance>.<user>.<project>.<volume>`: evicted with the user like the home volume. */
  readonly name: string;
  readonly target: string;
  readonly readOnly: boolean;
  /** Kept when the environment goes (persistent mode), else removed with it. */
  readonly persistent: boolean;
  readonly labels: Readonly<Record<string, string>>;
}

export interface ServicePlan {
  /** The service's DNS name on the services network (its network alias). */
  readonly name: string;
  /** `<instance>.<user>.<project>.<service>`: one more part than any environment's container name. */
  readonly containerName: string;
  readonly image: string;
  /** `NAME=value`, sorted, `${PODSPAWN_*}` expanded. */
  readonly env: readonly string[];
  readonly ports: readonly number[];
  readonly volumes: readonly ServiceVolumePlan[];
  /** Wait for a TCP connection to this port before hooks run; null: do not wait. */
  readonly ready: { readonly port: number; readonly timeoutMs: number } | null;
  readonly ociRuntime: "runc" | "runsc";
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly pidsLimit: number;
  /** After CapDrop ALL. Always empty from a Podfile: it cannot ask for capabilities. */
  readonly capAdd: readonly string[];
  /** LABEL.* of the environment, plus `podspawn.service` (so the environment table can tell it from a main container). */
  readonly labels: Readonly<Record<string, string>>;
}

export interface RepoClone {
  readonly url: string;
  /** null: the repository's default branch. */
  readonly branch: string | null;
  /** Relative to the account's home (workspace and repo path joined). */
  readonly path: string;
}

/**
 * The project's own repository (`mount: copy`), cloned as the user into the workspace on first
 * create, before everything else, and set to `commit`: the commit the node read the Podfile at,
 * so every node (and every new container) serves the same code until `update-project`.
 */
export interface ProjectClone {
  readonly url: string;
  /** The branch checked out (then set to `commit`); null: the repository's default branch. */
  readonly branch: string | null;
  readonly commit: string;
  /** Relative to the account's home: the workspace (the Podfile's `workspace`, else the project's name). */
  readonly path: string;
}

/** What runs as the user inside the container, in this order: clones, then on_create (first create only), then on_start. */
export interface SetupPlan {
  /** null unless the Podfile says `mount: copy`. */
  readonly project: ProjectClone | null;
  /** Cloned to `dir` (relative to the home) on first create; `install` then runs there. */
  readonly dotfiles: { readonly repo: string; readonly dir: string; readonly install: string | null } | null;
  readonly repos: readonly RepoClone[];
  /** Scripts, base's first; each runs with `<shell> -c` in the workdir; stop at the first failure. */
  readonly onCreate: readonly string[];
  readonly onStart: readonly string[];
}

export interface EnvironmentPlan {
  /** For progress lines: "building environment <name>". */
  readonly name: string;
  readonly image: ImagePlan;
  /** Today's container spec on the plan's image, limits and mode; its spec-hash label is `specHash`. */
  readonly container: ContainerSpec;
  readonly session: SessionSettings;
  /** null when there are no services. The main container joins it too. */
  readonly servicesNetwork: ServicesNetworkSpec | null;
  readonly services: readonly ServicePlan[];
  readonly setup: SetupPlan;
  /** For `podspawn forward`: nothing is published on the host. */
  readonly ports: { readonly expose: readonly number[]; readonly strategy: PortStrategy };
  /** Covers the whole plan: any change recreates the container at the next idle login. */
  readonly specHash: string;
}
