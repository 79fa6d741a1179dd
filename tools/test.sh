#!/usr/bin/env bash
# test.sh - install what is needed, build, and run every test layer:
#   1. unit, integration and SDK conformance tests (make check)
#   2. the same suite built with ASan + UBSan
#   3. the integration tests with the daemon under valgrind
#   4. the template image booted in a microVM (make check-vm; under KVM,
#      or emulated where /dev/kvm cannot boot it; ENVD_VM_ACCEL=kvm skips
#      instead)
#   5. make distcheck (the release tarball builds and passes its tests)
#   6. a short libFuzzer run of every fuzz target
# Ends with one line "N passed, N failed" summed over all layers.
# FUZZ_SECONDS (default 20) sets the fuzzing time per target.
set -uo pipefail
# The tests expect the files they create with the usual modes (0644).
umask 022
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=$(nproc)
failed_steps=()

step() { echo; echo "=== $*"; }

tools/deps.sh || exit 1
./autogen.sh || exit 1
# The SDK layer and the envctl signature cross-check use the npm packages.
SDK_INSTALL_ONLY=1 tests/sdk/run.sh || exit 1

# count_trs DIR: add the results of automake's .trs files under DIR.
passed=0
failed=0
count_trs() {
	local p f
	p=$(find "$1" -name '*.trs' -exec grep -h '^:test-result: PASS' {} + 2>/dev/null | wc -l)
	f=$(find "$1" -name '*.trs' -exec grep -hE '^:test-result: (FAIL|ERROR|XPASS)' {} + 2>/dev/null | wc -l)
	passed=$((passed + p))
	failed=$((failed + f))
	echo "$1: $p passed, $f failed"
	[ "$f" -eq 0 ] || show_failures "$1"
}

# show_failures DIR: name each failed test under DIR with its failing lines
# and the end of its log, so a red run says what broke.
show_failures() {
	local trs log
	find "$1" -name '*.trs' -exec grep -lE '^:test-result: (FAIL|ERROR|XPASS)' {} + 2>/dev/null |
	    while read -r trs; do
		log=${trs%.trs}.log
		echo "--- failed: ${trs#"$1"/}"
		grep -E '^:test-result: (FAIL|ERROR|XPASS)' "$trs" | head -20
		[ -f "$log" ] && { grep -E '^(not ok|# )' "$log" | head -40; echo '... end of log:'; tail -25 "$log"; }
	done
}

run_check() {	# DIR CONFIGURE-ARGS...
	local dir=$1
	shift
	rm -rf "$dir"
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q "$@" && make -j"$jobs" >/dev/null &&
	    make -j"$jobs" check) || failed_steps+=("check in $dir")
	count_trs "$dir"
}

step "build and test"
run_check build
step "build and test with ASan and UBSan"
run_check build-san --enable-sanitizers
step "integration tests under valgrind"
find build/tests/integration -name '*.trs' -delete 2>/dev/null
(cd build && make -j"$jobs" check-valgrind) || failed_steps+=("check-valgrind")
count_trs build/tests/integration
step "template image in a microVM"
find build/tests/vm -name '*.trs' -delete 2>/dev/null
(cd build && ENVD_VM_ACCEL="${ENVD_VM_ACCEL:-auto}" make -j"$jobs" check-vm) ||
    failed_steps+=("check-vm")
count_trs build/tests/vm
step "distcheck"
(cd build && make -j"$jobs" distcheck >distcheck.log 2>&1) ||
    { tail -40 build/distcheck.log; failed_steps+=("distcheck"); }
grep -E 'archives ready|^# (TOTAL|PASS|FAIL)' build/distcheck.log | tail -5
step "fuzzing"
rm -rf build-fuzz && mkdir build-fuzz
if (cd build-fuzz && "$top/configure" -q CC=clang --enable-fuzzing \
    --disable-sdk-tests && make -j"$jobs" >/dev/null &&
    make fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-20}"); then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
	failed_steps+=("fuzzing")
fi

echo
if [ ${#failed_steps[@]} -gt 0 ]; then
	echo "failed steps: ${failed_steps[*]}"
	[ "$failed" -gt 0 ] || failed=${#failed_steps[@]}
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
