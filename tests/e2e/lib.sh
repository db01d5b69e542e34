# Sourced by every tests/e2e/tNNNN-name.sh. Small git-style test helpers:
#
#   test_expect_success 'what it checks' '
#       commands && more commands
#   '
#   test_done
#
# Each body runs in a subshell with `set -e -o pipefail`; its output is kept
# and shown (prefixed with "# ") only when it fails. Every test file names
# what it creates with $T (a prefix unique to this run) and registers its
# cleanup with test_cleanup, which runs at exit even after a failure.
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BERTH=$TOP/bin/berth
LAB=$TOP/tests/e2e/lab/lab
T=bt$$
TEST_TMP=$(mktemp -d "/tmp/berth-e2e-$T.XXXX")
test_count=0
test_failed=0

# Cleanups are kept in a file, since test bodies run in subshells; they run
# last registered first.
test_cleanup() { printf '%s\n' "$*" >>"$TEST_TMP/.cleanups"; }

_run_cleanups() {
	local line
	if [[ -f $TEST_TMP/.cleanups ]]; then
		tac "$TEST_TMP/.cleanups" | while IFS= read -r line; do
			eval "$line" >/dev/null 2>&1 </dev/null || true
		done
	fi
	rm -rf "$TEST_TMP"
}
trap _run_cleanups EXIT

# lab_env: loads the lab's variables (LAB_SSH_CONFIG, LAB_HOSTS, ...).
lab_env() { eval "$("$LAB" env)"; }

test_expect_success() {
	local desc=$1 body=$2 log rc
	test_count=$((test_count + 1))
	log=$TEST_TMP/test-$test_count.log
	(
		set -e -o pipefail
		eval "$body"
	) >"$log" 2>&1 </dev/null
	rc=$?
	if ((rc == 0)); then
		echo "ok $test_count - $desc"
	else
		test_failed=$((test_failed + 1))
		echo "not ok $test_count - $desc"
		sed 's/^/#   /' "$log"
	fi
}

# test_expect_failure_output DESC 'cmd' 'grep-pattern': cmd must fail and
# print something matching the pattern (an extended regex).
test_must_fail() { ! "$@"; }

# grep_q FILE PATTERN: a grep that shows the file when the pattern is absent.
grep_q() {
	if ! grep -qE -- "$2" "$1"; then
		echo "expected /$2/ in $1:"
		cat "$1"
		return 1
	fi
}

test_done() {
	echo "1..$test_count"
	((test_failed == 0))
	exit $?
}
