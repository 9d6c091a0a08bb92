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
# Readable output on stdout; TAP to a file for the closing summary, which ends with the runner's
# own "# pass N" / "# fail N" lines and the plain "N passed, N failed" line that CI reads.
tap=$(mktemp /tmp/podspawn-tests.XXXXXX.tap)
trap 'rm -f "$tap"' EXIT
status=0
node --test --test-concurrency=1 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tap" \
  "${files[@]}" || status=$?
pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$tap" | tail -1)
fail=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$tap" | tail -1)
skipped=$(sed -n 's/^# skipped \([0-9]*\)$/\1/p' "$tap" | tail -1)
echo
echo "# pass ${pass:-0}"
echo "# fail ${fail:-0}"
echo "${pass:-0} passed, ${fail:-0} failed, ${skipped:-0} skipped"
exit "$status"
