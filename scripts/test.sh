#!/usr/bin/env bash
# The whole test suite: typecheck + build, lint, then every test kind in one node:test run.
# Integration and e2e tests need root, a running Docker engine and the images from
# scripts/build-image (.ci/run provides all three); they fail loudly without them, never skip.
# Files run one at a time: the e2e and integration suites share host accounts, ports and sshd.
set -euo pipefail
cd "$(dirname "$0")/.."

# A clean build: compiled tests of deleted sources must not linger in dist/.
rm -rf dist
npm run --silent build
npm run --silent lint

shopt -s nullglob
files=(dist/test/unit/*.test.js dist/test/synth/*.test.js dist/test/integration/*.test.js dist/test/e2e/*.test.js)
if [ "${#files[@]}" -eq 0 ]; then
  echo "no test files found under dist/test" >&2
  exit 1
fi
exec node --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
