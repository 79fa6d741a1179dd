#!/usr/bin/env bash
# SDK conformance layer: drives envd with the published e2b SDK and with raw
# Connect clients (JSON and binary), using Node's built-in test runner.
#
# Usage: tests/sdk/run.sh [node --test options, as --opt=value...] [test files...]
#   (default files: every *.test.mjs in tests/sdk)
#
# Environment:
#   ENVD_BIN               daemon under test (default: <repo>/envd/envd)
#   SDK_TEST_TIMEOUT_MS    per-test timeout (default 60000)
#   SDK_TEST_CONCURRENCY   test files run at once (default 1)
#   SDK_TAP_OUT            also keep the TAP block at this path
#   SDK_INSTALL_ONLY=1     install the npm dependencies and exit
#   SDK_ENVD_VERSION       envd version the SDK is told (default: what the
#                          daemon's -version prints)
#   PROTOC, ENVD_PROTO_DIR see lib/rpc.mjs
#
# Output: the spec report, then a flat TAP block (one result per test case and
# the plan, for TAP consumers), and always as the last two lines
#   sdk-passed: N
#   sdk-failed: N
# (skipped/todo cases count in neither). The exit status is non-zero when
# anything failed.

set -u

caller_pwd=$(pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ -n "${ENVD_BIN:-}" ]; then
  case "$ENVD_BIN" in
    /*) ;;
    *) ENVD_BIN="$caller_pwd/$ENVD_BIN" ;;
  esac
  export ENVD_BIN
fi

cd "$here" || exit 1

finish() {
  # finish PASSED FAILED STATUS
  echo "sdk-passed: $1"
  echo "sdk-failed: $2"
  exit "$3"
}

abort() {
  # abort REASON: a setup step failed before any test ran.
  echo "run.sh: $1" >&2
  echo "not ok 1 - run.sh: $1"
  echo "1..1"
  finish 0 1 1
}

if ! command -v node >/dev/null 2>&1; then
  abort "node not found"
fi

# Install dependencies from the lockfile when node_modules is missing or was
# installed from a different lockfile / Node version.
stamp_file=node_modules/.envd-sdk-stamp
want_stamp=$( { cat package.json package-lock.json; node --version; } | sha256sum | cut -d' ' -f1)
have_stamp=$(cat "$stamp_file" 2>/dev/null || true)
if [ ! -d node_modules ] || [ "$want_stamp" != "$have_stamp" ]; then
  echo "run.sh: installing dependencies (npm ci)"
  if ! npm ci --no-audit --no-fund; then
    abort "npm ci failed"
  fi
  echo "$want_stamp" >"$stamp_file"
fi
if [ "${SDK_INSTALL_ONLY:-0}" = 1 ]; then
  exit 0
fi

if ! node lib/setup.mjs; then
  echo "run.sh: warning: could not prepare test users" >&2
fi

bin_shown=${ENVD_BIN:-$(cd ../.. && pwd)/envd/envd}
if [ -x "$bin_shown" ]; then
  echo "run.sh: envd under test: $bin_shown"
else
  echo "run.sh: warning: envd binary $bin_shown is missing or not executable" >&2
fi

node_opts=()
files=()
for a in "$@"; do
  case "$a" in
    -*) node_opts+=("$a") ;;
    *) files+=("$a") ;;
  esac
done
if [ ${#files[@]} -eq 0 ]; then
  for f in *.test.mjs; do files+=("$f"); done
fi

run_dir=$(mktemp -d "${TMPDIR:-/tmp}/envd-sdk-run.XXXXXX")
export SDK_TEST_TMPDIR="$run_dir"
tap="$run_dir/report.tap"

node --test \
  --test-timeout="${SDK_TEST_TIMEOUT_MS:-60000}" \
  --test-concurrency="${SDK_TEST_CONCURRENCY:-1}" \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=./lib/flat-tap.mjs --test-reporter-destination="$tap" \
  ${node_opts[@]+"${node_opts[@]}"} "${files[@]}"
status=$?

if [ -n "${SDK_TAP_OUT:-}" ]; then
  cp "$tap" "$SDK_TAP_OUT" 2>/dev/null || echo "run.sh: cannot write $SDK_TAP_OUT" >&2
fi

if ! grep -q '^1\.\.[0-9][0-9]*$' "$tap" 2>/dev/null; then
  echo "run.sh: daemon logs and TAP report kept in $run_dir" >&2
  abort "no test results (runner crashed?)"
fi

# One flat TAP block (a result per test case, then the plan) for TAP consumers.
echo
echo "# test cases"
cat "$tap"

passed=$(grep '^ok ' "$tap" | grep -c -v -e ' # SKIP' -e ' # TODO')
failed=$(grep '^not ok ' "$tap" | grep -c -v ' # TODO')

if [ "$status" -eq 0 ] && [ "$failed" -eq 0 ]; then
  rm -rf "$run_dir"
  finish "$passed" 0 0
fi
echo "run.sh: daemon logs and TAP report kept in $run_dir"
[ "$status" -ne 0 ] || status=1
finish "$passed" "$failed" "$status"
