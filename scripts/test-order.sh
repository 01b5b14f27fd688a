#!/usr/bin/env bash
# Proves the tests do not depend on their order: no test may rely on data, settings or a clock
# that another test left behind.
#   1. the suite (or the selection) in a random order, once per seed (pytest-randomly, which
#      pyproject's addopts turns off for every other run: `-p randomly` turns it back on);
#   2. each test file alone, with -x (a file that passes only after another one fails here).
# Then it prints one line per run.
#
#   bash scripts/test-order.sh                                  # the whole suite (long: ~2 x suite time)
#   bash scripts/test-order.sh tests/test_audit.py tests/test_scope.py -m "not browser"
#
# Arguments that are files or directories select the tests (default: tests/); the others go to
# pytest on every run. GONGJIAN_TEST_SEEDS (space-separated) replaces the two seeds below;
# GONGJIAN_TEST_ORDER_ALONE=0 skips step 2, GONGJIAN_TEST_ORDER_RANDOM=0 skips step 1.
# GONGJIAN_TEST_BACKENDS defaults to sqlite here (set sqlite,postgresql for both). Logs:
# $GONGJIAN_TEST_ORDER_LOGS (default /tmp/gongjian-test-order/). A failure in a random order is
# replayed with the seed printed: pytest -p randomly --randomly-seed=<seed> <the same selection>.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

ensure_venv
install_project '.[test]'

SEEDS=(${GONGJIAN_TEST_SEEDS:-20 31337})
export GONGJIAN_TEST_BACKENDS="${GONGJIAN_TEST_BACKENDS:-sqlite}"
LOGS="${GONGJIAN_TEST_ORDER_LOGS:-/tmp/gongjian-test-order}"
mkdir -p "$LOGS"

selection=()
options=()
for arg in "$@"; do
    if [ -e "${arg%%::*}" ]; then selection+=("$arg"); else options+=("$arg"); fi
done
[ "${#selection[@]}" -gt 0 ] || selection=(tests)

summary=()
failed=0

run() {  # run <label> <log name> <pytest arguments...>
    local label="$1" log="$LOGS/$2.log"
    shift 2
    echo "==> $label (backends: $GONGJIAN_TEST_BACKENDS; log: $log)"
    "$VENV/bin/python" -m pytest -p no:warnings -rfE "$@" 2>&1 | tee "$log" | grep -E '^(FAILED|ERROR) '
    local code="${PIPESTATUS[0]}"
    local result
    result="$(grep -E '^=* ?[0-9]+ (passed|failed|errors?|skipped|deselected)|no tests ran' "$log" | tail -1 | tr -d '=')"
    # exit 5: nothing collected (e.g. a file whose tests the options deselect) is not a failure
    [ "$code" = "5" ] && code=0
    summary+=("$(printf '%-48s exit %s  %s' "$label" "$code" "${result:-no summary, see $log}")")
    [ "$code" = "0" ] || failed=1
}

if [ "${GONGJIAN_TEST_ORDER_RANDOM:-1}" != "0" ]; then
    for seed in "${SEEDS[@]}"; do
        run "random order, seed $seed" "seed-$seed" -p randomly --randomly-seed="$seed" \
            "${options[@]}" "${selection[@]}"
    done
fi

if [ "${GONGJIAN_TEST_ORDER_ALONE:-1}" != "0" ]; then
    files=()
    for path in "${selection[@]}"; do
        if [ -d "$path" ]; then
            files+=($(find "$path" -name 'test_*.py' | sort))
        else
            files+=("$path")
        fi
    done
    for file in "${files[@]}"; do
        run "alone: $file" "alone-$(basename "${file%%::*}" .py)" -x "${options[@]}" "$file"
    done
fi

echo
echo "==> Results ($GONGJIAN_TEST_BACKENDS)"
printf '%s\n' "${summary[@]}"
exit "$failed"
