"""Where studies come from: built-in names (package data, ablation/studies/) or paths to
.toml/.yaml files."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ablation.errors import UserError
from ablation.spec.documents import read_document
from ablation.spec.study import StudySpec, parse_study

STUDY_SUFFIXES = (".toml", ".yaml", ".yml")




def builtin_dir() -> Path | None:
    """The folder of the built-in studies, found as package data (a checkout, an editable
    install and a wheel alike); None when the package is not on a file system (a zip)."""
    root = resources.files("ablation").joinpath("studies")
    return root if isinstance(root, Path) and root.is_dir() else None


def builtin_studies() -> dict[str, Path]:
    """Built-in study names -> their files (ablation/studies/)."""
    folder = builtin_dir()
    if folder is None:
        return {}
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix in STUDY_SUFFIXES}


def resolve_study_path(name_or_path: str) -> Path:
    """A built-in study name or a path to a study file."""
    path = Path(name_or_path)
    if path.suffix in (".toml", ".yaml", ".yml"):
        if not path.is_file():
            raise UserError(f"{path}: study file not found")
        return path
    found = builtin_studies().get(name_or_path)
    if found is None:
        known = ", ".join(builtin_studies()) or "none"
        raise UserError(f"unknown study {name_or_path!r}; built-in studies: {known} "
                        "(or give a path to a .toml/.yaml file)")
    return found


def load_study(name_or_path: str) -> StudySpec:
    """Read and validate a study by built-in name or path."""
    path = resolve_study_path(name_or_path)
    return parse_study(read_document(path), str(path))
