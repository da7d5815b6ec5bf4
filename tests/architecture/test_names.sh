#!/usr/bin/env bash
# Every TEST_CASE must become its own ctest test. catch_discover_tests passes the names through a CMake
# list, where ';' separates and an unbalanced '[' or ']' swallows the separators after it: one such name
# once hid 182 tests from ctest (nobody ran them). This fails on such a name, and on any case of
# xgrad_tests that ctest does not know by its exact name.
#   test_names.sh XGRAD_TESTS BUILD_DIR
set -uo pipefail
tests=$1
build=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# (Catch 2 exits with the number of cases listed, so the status says nothing here.)
"$tests" --list-test-names-only >"$work/cases"
[[ -s $work/cases ]] || { echo "test_names: $tests listed no cases"; exit 1; }
(cd "$build" && ctest -N) >"$work/ctest" || { echo "test_names: ctest -N failed"; exit 1; }
python3 - "$work/cases" "$work/ctest" <<'PY'
import re, sys
cases = [l.rstrip("\n") for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
known = {m.group(1) for m in (re.match(r"\s*Test\s+#\d+: (.*)$", l.rstrip("\n"))
                                for l in open(sys.argv[2], encoding="utf-8")) if m}
bad = 0
for c in cases:
    if ";" in c or c.count("[") != c.count("]"):
        print(f"test_names: a ';' or an unbalanced bracket in a test name (rename it): {c}")
        bad = 1
missing = [c for c in cases if c not in known]
for c in missing[:10]:
    print(f"test_names: ctest does not know the case: {c}")
print(f"test_names: xgrad_tests has {len(cases)} cases; ctest knows {len(cases) - len(missing)} of them")
sys.exit(1 if bad or missing else 0)
PY
