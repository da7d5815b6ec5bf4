# The counting checks of the command's test scripts (tests/cli/cli_test.sh, tests/cli/workflow_test.sh,
# tests/mpi/cli_mpi_test.sh), sourced after $xgrad (the binary) and $tmp (a scratch directory) are set.
# A script ends with `finish`: "P passed, F failed", and its status is 0 only when nothing failed.
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok   - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
# check WHAT COMMAND...: one check, passed when COMMAND succeeds.
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

# record NAME RC ARGS...: called after every expect_error; a script that catalogues the errors (cli_test.sh,
# for docs/reliability.md) defines its own.
record() { :; }

# expect_error NAME STATUS PATTERN ARGS...: `xgrad ARGS...` exits with STATUS (1: a run failure, 2: a usage
# error) and its stderr matches PATTERN (grep -E).
expect_error() {
  local name=$1 status=$2 pattern=$3
  shift 3
  "$xgrad" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
  local rc=$?
  if [[ $rc -eq $status ]] && grep -qE -- "$pattern" "$tmp/stderr"; then
    ok "$name: exit $rc, says: $(head -n 1 "$tmp/stderr")"
  else
    bad "$name: exit $rc (expected $status), stderr: $(cat "$tmp/stderr")"
  fi
  record "$name" "$rc" "$@"
}

finish() {
  echo "$passed passed, $failed failed"
  [[ $failed -eq 0 ]]
}
