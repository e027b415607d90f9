"""The package's shape: a folder per concept, short modules and functions, imports one way.

These are the checks docs/design.md promises; they run on every test run so the layout cannot
drift back.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Callable
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ablation"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50
MAX_FOLDER_MODULES = 15  # past this a folder is a flat bag again (docs/design.md)

def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_two_modules_share_a_file_name() -> None:
    names = Counter(p.name for p in _modules() if p.name not in ("__init__.py", "__main__.py"))
    assert [n for n, k in names.items() if k > 1] == []


def test_no_module_is_over_400_lines() -> None:
    long = {str(p.relative_to(PACKAGE)): n for p in _modules()
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_no_function_is_over_50_lines() -> None:
    long = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                if (n := node.end_lineno - start + 1) > MAX_FUNCTION_LINES:  # type: ignore[operator]
                    long[f"{path.relative_to(PACKAGE)}:{node.name}"] = n
    assert long == {}


def _dotted(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(path: Path) -> list[str]:
    """Every ablation module ``path`` imports, at any depth (inside functions too), but not
    under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    here = _dotted(path) if path.name == "__init__.py" else _dotted(path).rpartition(".")[0]
    found: list[str] = []
    stack: list[ast.AST] = [ast.parse(path.read_text())]
    while stack:
        node = stack.pop()
        if _is_type_checking(node):
            stack += getattr(node, "orelse", [])
            continue
        stack += ast.iter_child_nodes(node)
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            found += [f"{base}.{a.name}" for a in node.names] + [base]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names]
    return [m for m in found if m.startswith("ablation.")]


def _graph(node_of: Callable[[str], str]) -> dict[str, set[str]]:
    """Edges between nodes (``node_of`` maps a module to its node) for every import."""
    paths = {_dotted(p): p for p in _modules()}

    def resolve(name: str) -> str:  # "pkg.mod.func" -> "pkg.mod"
        while name not in paths and "." in name:
            name = name.rpartition(".")[0]
        return name

    edges: dict[str, set[str]] = {}
    for module, path in paths.items():
        for target in _imports(path):
            a, b = node_of(module), node_of(resolve(target))
            if a != b:
                edges.setdefault(a, set()).add(b)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every import loop, as the nodes on it (found by depth-first search)."""
    loops, done = [], set()

    def visit(node: str, trail: list[str]) -> None:
        if node in trail:
            loops.append(trail[trail.index(node):] + [node])
            return
        if node in done:
            return
        for nxt in sorted(edges.get(node, ())):
            visit(nxt, trail + [node])
        done.add(node)

    for start in sorted(edges):
        visit(start, [])
    return loops


def _part(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _folder(module: str) -> str:
    path = PACKAGE.parent.joinpath(*module.split("."))
    return module if path.is_dir() or path.parent == PACKAGE else module.rpartition(".")[0]


def test_no_import_cycle_between_parts_at_any_depth() -> None:
    assert _cycles(_graph(_part)) == []


def test_no_import_cycle_between_folders_at_any_depth() -> None:
    assert _cycles(_graph(_folder)) == []


def test_the_import_reader_sees_imports_inside_functions() -> None:
    # fit imports its helpers at module level; precision imports bf16probe inside a function
    assert "ablation.training.bf16probe" in _imports(PACKAGE / "training" / "precision.py")


def test_no_folder_holds_more_than_15_modules() -> None:
    sizes = Counter(str(p.parent.relative_to(PACKAGE.parent)) for p in _modules())
    assert {f: n for f, n in sizes.items() if n > MAX_FOLDER_MODULES} == {}


def test_only_the_engine_and_the_dashboard_command_import_optuna() -> None:
    importers = set()
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "optuna" or n.startswith("optuna.") for n in names):
                importers.add(_part(_dotted(path)).removeprefix("ablation."))
    assert importers <= {"engine", "sampling", "cli"}


def test_the_cycle_finder_finds_a_loop() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": {"c"}}) == []


def test_test_files_import_no_other_test_file() -> None:
    """Shared fakes and helpers have one home, tests/fakes.py (fixtures: conftest.py)."""
    tests = PACKAGE.parent / "tests"
    crossing = []
    for path in sorted(tests.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            module = node.module or "" if isinstance(node, ast.ImportFrom) else ""
            if module.startswith("tests.") and module.rpartition(".")[2].startswith("test_"):
                crossing.append(f"{path.relative_to(tests)} imports {module}")
    assert crossing == []
