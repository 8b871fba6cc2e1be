"""The examples of docs/integrations.md run as written (in a fresh folder, offline)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "integrations.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
NEEDS = {"langgraph": "langgraph.store.base", "openai_agents": "agents", "compat.mem0": None}


@pytest.mark.parametrize("block", BLOCKS, ids=[f"example{i}" for i in range(len(BLOCKS))])
def test_doc_example_runs(
    block: str, tmp_path: Path, minilm_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for marker, module in NEEDS.items():
        if marker in block and module is not None:
            pytest.importorskip(module)
    monkeypatch.chdir(tmp_path)
    for name in re.findall(r'"([\w-]+\.db)"', block):  # the MiniLM model, derived once per run
        target = tmp_path / f"{name}.cache" / "models"
        target.mkdir(parents=True)
        for file in minilm_models.iterdir():
            os.link(file, target / file.name)
    exec(compile(block, str(DOC), "exec"), {"__name__": "__main__"})
