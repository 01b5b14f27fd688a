#!/usr/bin/env bash
# Proves the tests do not depend on the day they run: runs them once per day with the clock set to
# that day (GONGJIAN_TEST_TODAY=YYYY-MM-DD, which tests/conftest.py reads to move the whole
# session there with time-machine, the clock ticking from 10:00 in the district), then prints one
# line per day. Tests whose figures depend on the day pin their own (pytest.mark.today) and pass
# on every day; any other test that fails on one of these days is a date bomb.
#
#   bash scripts/test-dates.sh                      # the whole suite (about 3 minutes a day on SQLite)
#   bash scripts/test-dates.sh tests/test_reports.py -m "not browser"   # arguments go to pytest
#
# GONGJIAN_TEST_DAYS (space-separated) replaces the days below; GONGJIAN_TEST_BACKENDS defaults to
# sqlite here (set sqlite,postgresql for both). Logs: $GONGJIAN_TEST_DATES_LOGS (default
# /tmp/gongjian-test-dates/<day>.log).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

ensure_venv
install_project '.[test]'

# A day before a quarter ends and the year turns (the day two reminder tests once failed), a
# quarter end, the last day of a third quarter, a year end, a leap day, a day years ahead.
DAYS=(${GONGJIAN_TEST_DAYS:-2026-12-02 2026-03-31 2026-09-30 2026-12-31 2028-02-29 2030-06-15})
export GONGJIAN_TEST_BACKENDS="${GONGJIAN_TEST_BACKENDS:-sqlite}"
LOGS="${GONGJIAN_TEST_DATES_LOGS:-/tmp/gongjian-test-dates}"
mkdir -p "$LOGS"

summary=()
failed=0
for day in "${DAYS[@]}"; do
    log="$LOGS/$day.log"
    echo "==> GONGJIAN_TEST_TODAY=$day pytest $* (backends: $GONGJIAN_TEST_BACKENDS; log: $log)"
    GONGJIAN_TEST_TODAY="$day" "$VENV/bin/python" -m pytest -p no:warnings -rfE "$@" 2>&1 | tee "$log" \
        | grep -E '^(FAILED|ERROR) '
    code="${PIPESTATUS[0]}"
    result="$(grep -E '^=* ?[0-9]+ (passed|failed|errors?|skipped|deselected)|no tests ran' "$log" | tail -1 | tr -d '=')"
    summary+=("$day  exit $code  ${result:-no summary, see $log}")
    [ "$code" = "0" ] || failed=1
done

echo
echo "==> Results per day ($GONGJIAN_TEST_BACKENDS)"
printf '%s\n' "${summary[@]}"
exit "$failed"
