import { parsePackage, type PackageSpec } from "./package-spec.js";

/**
 * `name@version` entries: the four tools the reference system installs from upstream (they need
 * the internet at build time), and for any other name Debian's own version pin `name=version*`.
 * Versions are checked here, at parse time, so a Podfile naming `nodejs@99` is refused with the
 * line it is on rather than at build time.
 */
export interface InstallRecipe {
  /** Debian packages the steps need installed first. */
  readonly needs: readonly string[];
  /** Image environment the tool needs in sessions too (ENV lines before the steps). */
  readonly env: Readonly<Record<string, string>>;
  /** Commands run in order by bash with -euo pipefail, as one RUN step. */
  readonly steps: readonly string[];
}

interface Tool {
  /** The versions offered, or a pattern any matching version may follow. */
  readonly versions: readonly string[] | RegExp;
  readonly allowed: string;
  readonly recipe: (version: string) => InstallRecipe;
}

const APT_CLEAN = "rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin";

const TOOLS: Readonly<Record<string, Tool>> = {
  nodejs: {
    versions: ["18", "20", "22"],
    allowed: "18, 20, 22 (from NodeSource)",
    recipe: (v) => ({
      needs: ["ca-certificates", "curl", "gnupg"],
      env: {},
      steps: [`curl -fsSL https://deb.nodesource.com/setup_${v}.x | bash -`, "apt-get install -y --no-install-recommends nodejs", APT_CLEAN],
    }),
  },
  python: {
    versions: ["3.11", "3.12", "3.13"],
    allowed: "3.11, 3.12, 3.13 (from the deadsnakes PPA: Ubuntu bases only)",
    recipe: (v) => ({
      needs: ["software-properties-common"],
      env: {},
      steps: ["add-apt-repository -y ppa:deadsnakes/ppa", `apt-get install -y --no-install-recommends python${v} python${v}-venv`, APT_CLEAN],
    }),
  },
  go: {
    versions: /^[0-9]{1,3}\.[0-9]{1,3}(\.[0-9]{1,3}|(rc|beta)[0-9]{1,2})?$/,
    allowed: "a Go release such as 1.25, 1.25.1 or 1.26rc1 (from go.dev)",
    // go.dev names tarballs with three parts: 1.25 is go1.25.0.
    recipe: (v) => {
      const full = /^[0-9]+\.[0-9]+$/.test(v) ? `${v}.0` : v;
      return {
        needs: ["ca-certificates", "curl"],
        env: {},
        steps: [`curl -fsSL https://go.dev/dl/go${full}.linux-$(dpkg --print-architecture).tar.gz | tar -C /usr/local -xzf -`, "ln -sf /usr/local/go/bin/go /usr/local/go/bin/gofmt /usr/local/bin/"],
      };
    },
  },
  rust: {
    versions: /^(stable|beta|nightly(-[0-9]{4}-[0-9]{2}-[0-9]{2})?|[0-9]{1,3}\.[0-9]{1,3}(\.[0-9]{1,3})?)$/,
    allowed: "stable, beta, nightly, nightly-YYYY-MM-DD or a release such as 1.82 (from rustup)",
    // Under /usr/local rather than root's home, which the session user cannot read; login
    // shells reset PATH, so the binaries are linked into /usr/local/bin.
    recipe: (v) => ({
      needs: ["ca-certificates", "curl"],
      env: { RUSTUP_HOME: "/usr/local/rustup", CARGO_HOME: "/usr/local/cargo" },
      steps: [
        `curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --no-modify-path --default-toolchain ${v}`,
        "ln -sf /usr/local/cargo/bin/* /usr/local/bin/",
        "chmod -R a+rX /usr/local/rustup /usr/local/cargo",
      ],
    }),
  },
};

export const VERSIONED_TOOLS: readonly string[] = Object.keys(TOOLS);

/** Why a versioned entry cannot be installed, with what would be; null when it can. */
export function versionProblem(spec: PackageSpec): { readonly problem: string; readonly allowed: string } | null {
  const tool = spec.version === null ? undefined : TOOLS[spec.name];
  if (!tool || spec.version === null) return null;
  const ok = Array.isArray(tool.versions) ? tool.versions.includes(spec.version) : (tool.versions as RegExp).test(spec.version);
  return ok ? null : { problem: `${spec.name}@${spec.version}: unsupported version`, allowed: tool.allowed };
}

export type Install =
  /** One argument of `apt-get install`, quoted when it holds a glob. */
  | { readonly kind: "apt"; readonly arg: string }
  | { readonly kind: "recipe"; readonly entry: string; readonly recipe: InstallRecipe };

/** How one (already validated) entry is installed. */
export function installFor(entry: string): Install {
  const spec = parsePackage(entry);
  if (spec.version === null) return { kind: "apt", arg: spec.name };
  const tool = TOOLS[spec.name];
  if (!tool) return { kind: "apt", arg: `'${spec.name}=${spec.version}*'` };
  return { kind: "recipe", entry, recipe: tool.recipe(spec.version) };
}
