"""Mutation sweep of the rule modules (app/core and the statistics definitions) with mutmut 3.

    .venv/bin/python bench/mutation.py                      # every module of MODULES, in order
    .venv/bin/python bench/mutation.py errors calendar      # some modules
    .venv/bin/python bench/mutation.py scope --budget 900 --jobs 2
    .venv/bin/python bench/mutation.py --list               # the module -> test files table

Per module it copies the project into a temporary directory (the working tree is never touched:
mutmut writes its ./mutants there), writes a [tool.mutmut] section naming that one module and
the test files that exercise it (MODULES below), runs ``mutmut run`` on SQLite
(GONGJIAN_TEST_BACKENDS=sqlite) for at most --budget seconds, re-checks each survivor with a
freshly built app (see bench/mutation_plugin.py) for at most --recheck-budget seconds, and
prints: mutants, killed, survived, timeout, no tests, not checked, score. The score is
killed+timeout over the mutants checked (not counting "not checked" ones, cut by the budget).
Survivors (with their diffs) go to bench/out/mutation-<module>.txt. See bench/MUTATION.md.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTMUT = Path(sys.executable).with_name("mutmut")

# module name -> (file, the test files that exercise its rules). Keep each list short: mutmut runs
# all of them once to learn which test calls which function, then per mutant only those tests.
MODULES = {
    "errors": ("app/core/errors.py", ["tests/test_bad_input.py", "tests/test_record_rules.py",
                                      "tests/test_security.py"]),
    "calendar": ("app/core/calendar.py", ["tests/test_definitions.py", "tests/test_reminders.py"]),
    "masking": ("app/core/masking.py", ["tests/test_validation.py", "tests/test_personal_data.py",
                                        "tests/test_exports.py"]),
    "roles": ("app/core/roles.py", ["tests/test_permissions.py"]),
    "definitions": ("app/statistics/definitions.py", ["tests/test_definitions.py", "tests/test_reports.py",
                                                      "tests/test_unit_report.py"]),
    "scoped_interface": ("app/core/scoped_interface.py", ["tests/test_scope.py"]),
    "audit": ("app/core/audit.py", ["tests/test_audit.py"]),
    "policy": ("app/core/policy.py", ["tests/test_personal_data.py"]),
    "scope": ("app/core/scope.py", ["tests/test_scope.py", "tests/test_relation_scope.py",
                                    "tests/test_permissions.py"]),
    "duplicates": ("app/core/duplicates.py", ["tests/test_member_duplicates.py", "tests/test_bad_input.py"]),
    "record_rules": ("app/core/record_rules.py", ["tests/test_record_rules.py"]),
    "formats": ("app/core/formats.py", ["tests/test_validation.py", "tests/test_record_rules.py"]),
    "audit_chain": ("app/core/audit_chain.py", ["tests/test_audit.py", "tests/test_audit_keys.py"]),
    "audit_keys": ("app/core/audit_keys.py", ["tests/test_audit_keys.py"]),
    "audit_checkpoint": ("app/core/audit_checkpoint.py", ["tests/test_audit_keys.py"]),
    "request_state": ("app/core/request_state.py", ["tests/test_concurrent_writes.py"]),
    "duties": ("app/core/duties.py", ["tests/test_duties.py"]),
    "sessions": ("app/core/sessions.py", ["tests/test_sessions.py"]),
}

# What the copied project needs besides the module under test (mutmut copies these into mutants/).
PROJECT = ["app", "models", "views", "tasks", "migrations", "translations", "tests", "bench", "config.py",
           "pyproject.toml"]
ALSO_COPY = [p for p in PROJECT if p not in ("tests", "pyproject.toml")]

STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped",
          36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout", 37: "killed",
          None: "not checked", 2: "not checked", -15: "not checked", -2: "not checked"}
COLUMNS = ["mutants", "killed", "survived", "timeout", "no tests", "not checked", "other"]


def mutmut_section(module_file, test_files, timeout_constant):
    def quoted(items):
        return "[" + ", ".join(json.dumps(i) for i in items) + "]"

    return (
        "\n[tool.mutmut]\n"
        f"source_paths = {quoted([module_file])}\n"
        f"also_copy = {quoted(ALSO_COPY)}\n"
        f"pytest_add_cli_args_test_selection = {quoted(test_files)}\n"
        f"pytest_add_cli_args = {quoted(['-p', 'bench.mutation_plugin', '-p', 'no:warnings', '-p', 'no:cacheprovider'])}\n"
        f"timeout_constant = {timeout_constant}\n"
        "use_git_change_detection = false\n"
    )


def strip_mutmut_section(text):
    return re.sub(r"(?ms)^\[tool\.mutmut\]\n.*?(?=^\[|\Z)", "", text)


def make_workspace(base, module_file, test_files):
    work = Path(tempfile.mkdtemp(prefix="mutation-", dir=base))
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "out")
    for name in PROJECT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, work / name)
    write_config(work, module_file, test_files, timeout_constant=1.0)
    return work


def write_config(work, module_file, test_files, timeout_constant):
    text = strip_mutmut_section((ROOT / "pyproject.toml").read_text("utf-8")).rstrip("\n") + "\n"
    (work / "pyproject.toml").write_text(text + mutmut_section(module_file, test_files, timeout_constant), "utf-8")


def run_mutmut(work, args, budget, env, log, setup_budget):
    """``mutmut run`` in ``work``: at most ``setup_budget`` seconds until it starts testing mutants
    (copying, the stats run of the test files, the clean and forced-fail runs), then at most
    ``budget`` seconds of mutants. Returns whether it finished."""
    with open(log, "a") as out:
        out.write(f"\n$ mutmut run {' '.join(args)}  (budget {budget:.0f}s)\n")
        out.flush()
        offset = out.tell()
        proc = subprocess.Popen([str(MUTMUT), "run", *args], cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    started = time.monotonic()
    testing_since = None
    try:
        while proc.poll() is None:
            time.sleep(2)
            now = time.monotonic()
            if testing_since is None:
                with open(log, "rb") as text:
                    text.seek(offset)
                    if b"Running mutation testing" in text.read():
                        testing_since = now
                if testing_since is None and now - started > setup_budget:
                    break
            if testing_since is not None and now - testing_since > budget:
                break
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # mutmut stops its workers and keeps the results so far
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        return proc.returncode == 0
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # any worker left behind
        except ProcessLookupError:
            pass
        proc.wait()


def results(work, module_file):
    meta = work / "mutants" / (module_file + ".meta")
    if not meta.exists():
        return {}
    return json.loads(meta.read_text("utf-8"))["exit_code_by_key"]


def widen_app_build_functions(work):
    """A function called only while the session's app is built (create_app, ``gongjian init``)
    is recorded against the first test of the stats run alone; for the re-check, give it every
    test of the module's files (the first failure still stops the run)."""
    path = work / "mutants" / "mutmut-stats.json"
    stats = json.loads(path.read_text("utf-8"))
    tests = list(stats["duration_by_test"])
    if not tests:
        return
    for function, names in stats["tests_by_mangled_function_name"].items():
        if set(names) <= {tests[0]}:
            stats["tests_by_mangled_function_name"][function] = tests
    path.write_text(json.dumps(stats), "utf-8")


def durations(work, module_file):
    meta = work / "mutants" / (module_file + ".meta")
    return json.loads(meta.read_text("utf-8")).get("durations_by_key", {}) if meta.exists() else {}


def count(exit_codes):
    row = dict.fromkeys(COLUMNS, 0)
    for code in exit_codes.values():
        status = STATUS.get(code, "other")
        row["mutants"] += 1
        row[status if status in row else "other"] += 1
    checked = row["killed"] + row["survived"] + row["timeout"]
    row["score"] = 100.0 * (row["killed"] + row["timeout"]) / checked if checked else None
    return row


def show(work, name):
    done = subprocess.run([str(MUTMUT), "show", name], check=False, cwd=work, capture_output=True, text=True, timeout=120)
    return done.stdout.strip() or done.stderr.strip()


def sweep_module(name, args, base, deadline):
    module_file, test_files = MODULES[name]
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    log = out_dir / f"mutation-{name}.log"
    log.write_text(f"mutation sweep of {module_file} against {' '.join(test_files)}\n", "utf-8")
    env = {**os.environ, "GONGJIAN_TEST_BACKENDS": "sqlite", "GONGJIAN_ENV": "testing"}
    env.pop("GONGJIAN_MUTATION_FRESH_APP", None)
    work = make_workspace(base, module_file, test_files)
    started = time.monotonic()
    try:
        budget = min(args.budget, deadline - time.monotonic())
        extra = [f"--max-children={args.jobs}"] + (args.only or [])
        run_mutmut(work, extra, budget, env, log, min(args.setup_budget, deadline - time.monotonic()))
        codes = results(work, module_file)
        survivors = sorted(k for k, v in codes.items() if v == 0)
        rechecked = set()
        if survivors and not args.no_recheck:
            # Survivors again, each child building its own app with the mutant active (slow, exact).
            write_config(work, module_file, test_files, timeout_constant=args.recheck_timeout)
            budget = min(args.recheck_budget, deadline - time.monotonic())
            if budget > 30:
                before = durations(work, module_file)
                widen_app_build_functions(work)
                run_mutmut(work, [f"--max-children={args.jobs}", *survivors], budget,
                           {**env, "GONGJIAN_MUTATION_FRESH_APP": "1"}, log, args.setup_budget)
                after = durations(work, module_file)
                rechecked = {k for k in survivors if after.get(k) != before.get(k)}
                codes = results(work, module_file) or codes
        row = count(codes)
        row["seconds"] = round(time.monotonic() - started)
        survivors = sorted(k for k, v in codes.items() if v == 0)
        row["survivors rechecked"] = len(rechecked & set(survivors))
        with open(out_dir / f"mutation-{name}.txt", "w") as report:
            report.write(f"# {module_file}: {json.dumps(row)}\n")
            for key in survivors:
                how = "re-checked with a fresh app" if key in rechecked else \
                    "cached app only (not re-checked with a fresh app: budget)"
                report.write(f"\n## {key} ({how})\n{show(work, key)}\n")
        return row
    finally:
        if args.keep:
            print(f"  (kept {work})", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help=f"default: all of {', '.join(MODULES)}")
    parser.add_argument("--budget", type=float, default=600,
                        help="seconds of mutant testing per module (default 600)")
    parser.add_argument("--setup-budget", type=float, default=600,
                        help="seconds per mutmut run before it tests mutants: the stats, clean and forced-fail "
                             "runs of the module's test files (default 600)")
    parser.add_argument("--recheck-budget", type=float, default=300,
                        help="seconds for re-checking a module's survivors with a fresh app (default 300)")
    parser.add_argument("--recheck-timeout", type=float, default=4.0,
                        help="mutmut timeout_constant for the re-check, in seconds (default 4: the app is rebuilt)")
    parser.add_argument("--total-budget", type=float, default=4 * 3600, help="seconds for the whole sweep")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested at once (default 1)")
    parser.add_argument("--only", action="append", help="mutant name glob, e.g. 'app.core.errors.x_*' (repeatable)")
    parser.add_argument("--no-recheck", action="store_true", help="do not re-check survivors with a fresh app")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies (to run mutmut show/browse)")
    parser.add_argument("--workdir", default=None, help="where the temporary copies go (default: the system temp)")
    parser.add_argument("--list", action="store_true", help="print the module -> test files table and exit")
    args = parser.parse_args()

    if args.list:
        for name, (path, tests) in MODULES.items():
            print(f"{name:17} {path:32} {' '.join(tests)}")
        return 0
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {unknown}; known: {', '.join(MODULES)}")
    if not MUTMUT.exists():
        parser.error(f"{MUTMUT} not found: pip install -e '.[test]'")

    deadline = time.monotonic() + args.total_budget
    header = f"{'module':17}" + "".join(f"{c:>12}" for c in COLUMNS) + f"{'score':>9}{'seconds':>9}{'survivors re-checked':>22}"
    print(header, flush=True)
    rows = {}
    for name in args.modules or list(MODULES):
        if time.monotonic() > deadline - 60:
            print(f"{name:17} skipped: total budget spent", flush=True)
            continue
        row = rows[name] = sweep_module(name, args, args.workdir, deadline)
        score = "-" if row["score"] is None else f"{row['score']:.1f}%"
        print(f"{name:17}" + "".join(f"{row[c]:>12}" for c in COLUMNS) + f"{score:>9}{row['seconds']:>9}"
              f"{row['survivors rechecked']:>22}", flush=True)
    (ROOT / "bench" / "out" / "mutation-summary.json").write_text(json.dumps(rows, indent=2), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
