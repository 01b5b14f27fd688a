"""The project's import graph, read from the code with ``ast`` (nothing is imported or run).

``python scripts/import_graph.py`` prints, for app/, models/, views/, tasks/ and config.py:
module sizes (lines), imports of project modules made inside functions, import circles between
files, and upward arrows (an import of a higher floor, ARCHITECTURE.md). Exit status 1 when there
is a circle, an upward arrow, an inner import without a ``# lazy:`` comment saying why, or a
module over the size limit. tests/test_layout.py runs the same checks in CI.

Floors, lowest first — a module may import its own floor and the floors below:
  0  config, app.extensions, app.i18n            (settings and library singletons)
  1  models, app.core                            (tables and the rules that hold everywhere)
  2  app.<capability>, app.celery_app            (statistics, exports, reminders, letters, ...)
  3  views, tasks, app.cli, app.demo             (screens, APIs, Celery tasks, commands)
  4  app (create_app), app.factory, tasks.worker (wire everything together)
An arrow goes to the module an import names (``from models import Member`` names the package
``models``; ``from models.member import Member`` names ``models.member``), as pydeps draws it. The
parents it runs first are left out, so a package ``__init__`` a lower floor's modules live in (app/)
holds no project import at module level: app/__init__.py reaches the factory lazily.
"""
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "models", "views", "tasks")
SINGLE_MODULES = ("config",)
SIZE_LIMIT = 430  # "no module over ~400 lines"
LAZY_MARK = "# lazy:"

FLOOR_BY_PREFIX = (  # the longest matching prefix wins
    ("config", 0), ("app.extensions", 0), ("app.i18n", 0),
    ("models", 1), ("app.core", 1),
    ("app.celery_app", 2), ("app.", 2),
    ("views", 3), ("tasks", 3), ("app.cli", 3), ("app.demo", 3), ("app.serve", 4),
    ("app", 4), ("app.factory", 4), ("tasks.worker", 4),
)


def floor_of(module):
    """The floor of a project module (see the module docstring)."""
    best, floor = "", None
    for prefix, level in FLOOR_BY_PREFIX:
        if prefix.endswith("."):
            matches = module.startswith(prefix)
        else:
            matches = module == prefix or module.startswith(prefix + ".")
        if matches and len(prefix) > len(best):
            best, floor = prefix, level
    return floor


def project_files():
    """{module name: path} of every project module."""
    files = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    for name in SINGLE_MODULES:
        files[name] = ROOT / f"{name}.py"
    return files


def _absolute(node, module, is_package):
    """The module a ``from … import`` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imported_names(node, module, is_package, modules):
    """The project modules one import statement names, and the parent packages it runs first."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        source = _absolute(node, module, is_package)
        targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source for a in node.names]
    named, parents = set(), set()
    for target in targets:
        parts = target.split(".")
        while parts and ".".join(parts) not in modules:
            parts.pop()
        if parts:
            named.add(".".join(parts))
        parents.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return named, parents - named


def _inside_function(tree):
    """Map each import node to True when it sits inside a function body."""
    inside = {}

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                inside[child] = in_function
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(tree, False)
    return inside


def read_graph():
    """(modules, edges, named, inner imports, sizes): edges are {module: {imported module: line}},
    parent packages included (for circles); ``named`` leaves them out (for floors: every module
    of a package runs its ``__init__``, which therefore holds no project import at module level)."""
    modules = project_files()
    edges, named, inner, sizes = {}, {}, [], {}
    for module, path in modules.items():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        sizes[module] = len(lines)
        tree = ast.parse(text, filename=str(path))
        is_package = path.name == "__init__.py"
        edges[module], named[module] = {}, {}
        for node, in_function in _inside_function(tree).items():
            targets, parents = _imported_names(node, module, is_package, modules)
            targets.discard(module)
            if not targets:
                continue
            for target in targets:
                named[module].setdefault(target, node.lineno)
            for target in targets | (parents - {module}):
                edges[module].setdefault(target, node.lineno)
            if in_function:
                said_why = LAZY_MARK in lines[node.lineno - 1] or (
                    node.lineno > 1 and LAZY_MARK in lines[node.lineno - 2])
                inner.append((module, node.lineno, sorted(targets), said_why))
    return modules, edges, named, inner, sizes


def circles(edges):
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = [0]
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, ()))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def upward_arrows(edges):
    """(importer, imported, line) where the imported module sits on a higher floor."""
    arrows = []
    for module, targets in edges.items():
        for target, line in targets.items():
            if floor_of(target) > floor_of(module):
                arrows.append((module, target, line))
    return sorted(arrows)


def report():
    """Print the figures and return the number of problems found."""
    modules, edges, named, inner, sizes = read_graph()
    found_circles = circles(named)
    arrows = upward_arrows(named)
    unexplained = [i for i in inner if not i[3]]
    too_big = sorted((n, m) for m, n in sizes.items() if n > SIZE_LIMIT)
    print(f"modules: {len(modules)}, lines: {sum(sizes.values())}")
    print("largest modules:", ", ".join(f"{m} {n}" for m, n in sorted(sizes.items(), key=lambda x: -x[1])[:8]))
    print(f"imports of project modules inside functions: {len(inner)} ({len(unexplained)} without '{LAZY_MARK}')")
    for module, line, targets, said_why in inner:
        print(f"  {'ok ' if said_why else 'BAD'} {module}:{line} -> {', '.join(targets)}")
    print(f"circles: {len(found_circles)}")
    for component in found_circles:
        print(f"  {len(component)} modules: {' '.join(component)}")
    print(f"upward arrows: {len(arrows)}")
    for module, target, line in arrows:
        print(f"  {module}:{line} (floor {floor_of(module)}) -> {target} (floor {floor_of(target)})")
    print(f"modules over {SIZE_LIMIT} lines: {len(too_big)}")
    for lines, module in too_big:
        print(f"  {module} {lines}")
    return len(found_circles) + len(arrows) + len(unexplained) + len(too_big)


if __name__ == "__main__":
    sys.exit(1 if report() else 0)
