/**
 * The bases a Podfile can extend by bare name (`extends: ubuntu-dev`), with the reference
 * system's names and package lists. The reference builds them on ubuntu:24.04 from a registry;
 * here they build on an image the node already has, which the resolver is given (normally the
 * node's default image), so no registry is needed. The text is a Podfile minus its `base`.
 */
const BASES = {
  minimal: `packages:
  - git
  - curl
  - ca-certificates
shell: /bin/bash
`,
  "ubuntu-dev": `packages:
  - git
  - curl
  - wget
  - ripgrep
  - fzf
  - neovim
  - jq
  - htop
  - tree
  - unzip
  - make
  - build-essential
  - ca-certificates
shell: /bin/bash
`,
  // python@3.13 comes from the deadsnakes PPA, as in the reference: it needs an Ubuntu base.
  "data-science": `packages:
  - python@3.13
  - git
  - curl
  - build-essential
  - ca-certificates
shell: /bin/bash
env:
  UV_CACHE_DIR: /home/\${PODSPAWN_USER}/.cache/uv
on_create: |
  curl -LsSf https://astral.sh/uv/install.sh | sh
  "$HOME/.local/bin/uv" venv "$HOME/.venv"
  . "$HOME/.venv/bin/activate"
  "$HOME/.local/bin/uv" pip install jupyter pandas numpy matplotlib scikit-learn
  echo '. "$HOME/.venv/bin/activate"' >> "$HOME/.bashrc"
`,
} as const;

export type BundledBaseName = keyof typeof BASES;
export const BUNDLED_BASE_NAMES: readonly string[] = Object.keys(BASES);

export function isBundledBase(name: string): name is BundledBaseName {
  return Object.hasOwn(BASES, name);
}

/** The file name errors in a bundled base carry. */
export function bundledBaseFile(name: BundledBaseName): string {
  return `(bundled base ${name})`;
}

/** The base's Podfile text over `baseImage`. */
export function bundledBaseText(name: BundledBaseName, baseImage: string): string {
  return `base: ${JSON.stringify(baseImage)}\n${BASES[name]}`;
}
