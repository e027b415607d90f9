"""The built-in studies ship inside the package: found through importlib.resources in a checkout
and in an installed wheel alike (issue 21: a wheel had none)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

from ablation.spec.files import builtin_dir, builtin_studies

REPO = Path(__file__).resolve().parents[2]


def test_builtin_studies_are_package_data_read_through_importlib_resources() -> None:
    folder = builtin_dir()
    assert folder is not None
    assert folder == resources.files("ablation").joinpath("studies")
    assert set(builtin_studies()) == {p.stem for p in folder.glob("*.toml")}
    assert len(builtin_studies()) >= 10


def test_the_repository_keeps_one_copy_of_each_study_file() -> None:
    top = REPO / "studies"
    assert top.is_symlink() and top.resolve() == (REPO / "ablation" / "studies").resolve()


def test_an_installed_wheel_finds_its_builtin_studies(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path / "wheel"), str(REPO)],
                   check=True, capture_output=True, cwd=tmp_path)
    wheel = next((tmp_path / "wheel").glob("ablate-*.whl"))
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    env = dict(os.environ, PYTHONPATH=str(site))
    out = subprocess.run([sys.executable, "-c", "import ablation.spec.files as f; "
                          "print(f.__file__); print(*f.builtin_studies())"],
                         check=True, capture_output=True, text=True, env=env, cwd=tmp_path)
    where, names = out.stdout.splitlines()
    assert where.startswith(str(site))
    assert set(names.split()) == set(builtin_studies())
