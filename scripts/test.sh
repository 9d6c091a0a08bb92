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
# Readable output on stdout; TAP to a file for the closing summary, which ends with "# pass N" /
# "# fail N" lines and the plain "N passed, N failed" line that CI reads.
# A test cancelled because its hook failed (not root, no Docker) or its file timed out proved
# nothing: it counts as failed in both lines, and in the exit status.
# --test-timeout: on Node 20 it bounds each test file as a whole (and each test in it), so a hang
# fails that file instead of eating CI's time. The slowest file (test/e2e/session.test.ts) takes
# ~40 s here; 180 s leaves room for a loaded machine.
tap=$(mktemp /tmp/podspawn-tests.XXXXXX.tap)
trap 'rm -f "$tap"' EXIT
status=0
node --test --test-concurrency=1 --test-timeout=180000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tap" \
  "${files[@]}" || status=$?
count() { sed -n "s/^# $1 \([0-9]*\)\$/\1/p" "$tap" | tail -1; }
pass=$(count pass)
fail=$(count fail)
cancelled=$(count cancelled)
skipped=$(count skipped)
todo=$(count todo)
failed=$(( ${fail:-0} + ${cancelled:-0} ))
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # The runner failed without a failing test to show for it (it crashed, or wrote no summary).
  echo "the test runner exited with status $status before reporting a failed test" >&2
  failed=1
fi
[ "$failed" -gt 0 ] && [ "$status" -eq 0 ] && status=1
echo
echo "# pass ${pass:-0}"
echo "# fail $failed"
echo "# cancelled ${cancelled:-0} (counted as failed)"
echo "${pass:-0} passed, $failed failed, ${skipped:-0} skipped, ${todo:-0} todo"
exit "$status"
