"""The package's shape: a folder per concept, short modules and functions, imports one way.

These are the checks docs/design.md promises; they run on every test run so the layout cannot
drift back.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ablation"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50
# Layer of each top-level part; a module may import (at module level) only from its own layer
# or lower ones. cli -> engine/reporting -> training/compression -> models/data -> spec/registry;
# analysis is pure (it imports nothing of ablate but the registry).
LAYERS = {"cli": 5, "engine": 4, "reporting": 4, "training": 3, "compression": 3,
          "models": 2, "data": 2, "spec": 1, "config": 1, "sampling": 4, "analysis": 0, "registry": 0, "errors": 0}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _part(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


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


def _module_level_imports(tree: ast.Module) -> list[str]:
    found = []
    for node in tree.body:
        if isinstance(node, ast.If):  # `if TYPE_CHECKING:` imports are for annotations only
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names]
    return [m for m in found if m.startswith("ablation.")]


def test_module_level_imports_point_one_way() -> None:
    upward = []
    for path in _modules():
        part = _part(path)
        if part not in LAYERS:
            continue
        for module in _module_level_imports(ast.parse(path.read_text())):
            target = module.split(".")[1]
            if target in LAYERS and LAYERS[target] > LAYERS[part]:
                upward.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert upward == []


def test_only_the_engine_and_the_dashboard_command_import_optuna() -> None:
    importers = set()
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "optuna" or n.startswith("optuna.") for n in names):
                importers.add(_part(path))
    assert importers <= {"engine", "sampling", "cli"}
