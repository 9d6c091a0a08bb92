/**
 * Starter Podfiles for `podspawn init`, one per kind of project, shaped like the reference
 * system's templates. They extend the bundled bases (built on the node's own image, so no
 * registry is needed); the language tools come from upstream like the reference's (the node
 * needs the internet at build time), except Python, whose upstream source (a PPA) serves only
 * Ubuntu: Debian's python3 it is.
 */
const HEADER = "# Podfile: the environment of this project on podspawn. Format: docs/podfiles.md\n";

export const INIT_TEMPLATES = {
  minimal: `${HEADER}
extends: minimal

# packages:
#   - jq
# on_create: |
#   echo "runs once, when the container is created"
`,
  node: `${HEADER}
extends: ubuntu-dev

packages:
  - nodejs@22

ports:
  expose: [3000, 5173]

on_create: |
  if [ -f package.json ]; then npm install; fi

on_start: |
  echo "Node $(node --version) ready"
`,
  python: `${HEADER}
extends: ubuntu-dev

packages:
  - python3
  - python3-venv
  - python3-pip

ports:
  expose: [8000]

on_create: |
  python3 -m venv "$HOME/.venv"
  if [ -f requirements.txt ]; then "$HOME/.venv/bin/pip" install -r requirements.txt; fi
  if [ -f pyproject.toml ]; then "$HOME/.venv/bin/pip" install -e .; fi

on_start: |
  echo "Python $(python3 --version | cut -d' ' -f2) ready"
`,
  go: `${HEADER}
extends: ubuntu-dev

packages:
  - go@1.25

env:
  GOPATH: /home/\${PODSPAWN_USER}/go

ports:
  expose: [8080]

on_create: |
  if [ -f go.mod ]; then go mod download; fi

on_start: |
  echo "$(go version | cut -d' ' -f3) ready"
`,
  rust: `${HEADER}
extends: ubuntu-dev

packages:
  - rust@stable

ports:
  expose: [8080]

on_create: |
  if [ -f Cargo.toml ]; then cargo fetch; fi

on_start: |
  echo "Rust $(rustc --version | cut -d' ' -f2) ready"
`,
  fullstack: `${HEADER}
# Node front end, Go back end, PostgreSQL beside it (reachable as postgres:5432).
extends: ubuntu-dev

packages:
  - nodejs@22
  - go@1.25
  - postgresql-client

env:
  GOPATH: /home/\${PODSPAWN_USER}/go
  DATABASE_URL: postgres://postgres:devpass@postgres:5432/dev

services:
  # Build podfiles/services/postgres/ on the node first (docs/podfiles.md).
  - name: postgres
    image: podspawn/postgres:15-bookworm
    ports: [5432]
    env:
      POSTGRES_PASSWORD: devpass
      POSTGRES_DB: dev
    volumes:
      - pgdata:/var/lib/postgresql/data
    ready:
      port: 5432

ports:
  expose: [3000, 5173, 8080]

on_create: |
  if [ -f package.json ]; then npm install; fi
  if [ -f go.mod ]; then go mod download; fi
`,
} as const;

export type InitTemplate = keyof typeof INIT_TEMPLATES;
