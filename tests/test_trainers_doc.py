"""docs/trainers.md's contract is public: its imports work and a trainer written to it loads."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ablation.engine.options import load_trainer

DOC = Path(__file__).resolve().parents[1] / "docs" / "trainers.md"


def test_the_documented_contract_imports_and_loads(tmp_path: Path, monkeypatch) -> None:
    block = re.search(r"## The contract\n\n```python\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None
    (tmp_path / "doc_trainer.py").write_text(block.group(1).replace("    ...", "    raise"))
    monkeypatch.syspath_prepend(str(tmp_path))
    fn = load_trainer("doc_trainer:fit")
    assert fn.__module__ == "doc_trainer"
    from ablation.config.trainconfig import TrainConfig

    assert sys.modules["doc_trainer"].TrainConfig is TrainConfig
