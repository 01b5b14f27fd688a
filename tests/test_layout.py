"""app/ in floors (ARCHITECTURE.md, issue 13), checked from the code itself by scripts/import_graph.py:
no import circle between files, no import of a higher floor, no module over the size limit, and an
import of a project module inside a function only with a ``# lazy:`` comment saying why."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def graph():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    modules, edges, named, inner, sizes = module.read_graph()
    return module, modules, edges, named, inner, sizes


def test_no_import_circle(graph):
    tool, _modules, _edges, named, *_ = graph
    assert tool.circles(named) == []


def test_imports_point_down(graph):
    tool, _modules, _edges, named, *_ = graph
    assert tool.upward_arrows(named) == []


def test_every_module_has_a_floor(graph):
    tool, modules, *_ = graph
    assert [m for m in modules if tool.floor_of(m) is None] == []


def test_imports_inside_functions_say_why(graph):
    *_, inner, _sizes = graph
    assert [f"{module}:{line}" for module, line, _targets, said_why in inner if not said_why] == []


def test_no_module_over_the_size_limit(graph):
    tool, *_, sizes = graph
    assert {m: n for m, n in sizes.items() if n > tool.SIZE_LIMIT} == {}


def test_the_checker_sees_a_circle_and_an_upward_arrow():
    """The checks above would pass on an empty graph: prove the tool finds what it must."""
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    edges = {"models.a": {"app.core.b": 1}, "app.core.b": {"models.a": 2}, "views.c": {}}
    assert tool.circles(edges) == [["app.core.b", "models.a"]]
    assert tool.upward_arrows({"models.a": {"views.c": 3}}) == [("models.a", "views.c", 3)]
    assert tool.floor_of("app.statistics.definitions") == 2 and tool.floor_of("app.core.scope") == 1
    assert tool.floor_of("app.factory") == 4 and tool.floor_of("app.demo.seed") == 3


IMPORT_EACH = """
import importlib, os, sys
import celery, flask, flask_appbuilder, flask_babel, marshmallow, sqlalchemy  # loaded once, shared by each child
for name in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException as exc:
            print(f"{name}: {type(exc).__name__}: {exc}", flush=True)
            os._exit(1)
        os._exit(0)
    os.waitpid(pid, 0)
"""
# Importing it builds the worker's app from the environment: not a module to import on a whim.
NOT_IMPORTED_ALONE = {"tasks.worker"}


def test_every_module_imports_on_its_own(graph):
    """A circle the static graph cannot see (a package __init__ importing back) fails here: each
    module is imported first, alone, in a fresh process (forked after the outside libraries load)."""
    _tool, modules, *_ = graph
    names = sorted(set(modules) - NOT_IMPORTED_ALONE)
    result = subprocess.run([sys.executable, "-c", IMPORT_EACH, *names], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "GONGJIAN_ENV": "testing"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == "", result.stdout
