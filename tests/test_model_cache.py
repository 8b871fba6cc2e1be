"""The MiniLM embedder's derived int8 model: one copy per machine (``model_cache_dir``, shared by
every store, none in ``<db>.cache/``), checked by SHA-256 on every load and rebuilt when it is
damaged, and derived safely by two processes at once."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engramdb import EngramConfig, Memory
from engramdb.encode.embedders.minilm import verified


def derived(folder: Path) -> list[Path]:
    return sorted(folder.glob("minilm-int8-*.onnx"))


def test_stores_share_one_model_per_machine(tmp_path: Path) -> None:
    models = tmp_path / "machine-cache"
    with Memory(tmp_path / "a.db", model_cache_dir=str(models)) as a:
        first = a.embedder.embed(["my sister lives in Kyoto"])
    [model] = derived(models)
    inode = model.stat().st_ino
    with Memory(tmp_path / "b.db", model_cache_dir=str(models)) as b:
        second = b.embedder.embed(["my sister lives in Kyoto"])
    assert derived(models) == [model] and model.stat().st_ino == inode  # not derived again
    assert np.allclose(first, second)
    assert not (tmp_path / "a.db.cache" / "models").exists()
    assert not (tmp_path / "b.db.cache" / "models").exists()
    recorded = model.with_suffix(".sha256").read_text().strip()
    assert recorded == hashlib.sha256(model.read_bytes()).hexdigest()
    assert model.stat().st_size > 20_000_000
    assert not [p for p in models.iterdir() if p.name.startswith(".minilm-")]  # no temp files


def test_the_default_folder_is_resolved_in_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert EngramConfig.build().model_cache_dir == str(tmp_path / "xdg" / "engramdb" / "models")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # not absolute: ignored (XDG spec)
    home = Path("~/.cache").expanduser() / "engramdb" / "models"
    assert EngramConfig.build().model_cache_dir == str(home)
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert EngramConfig.build().model_cache_dir == str(home)
    config = tmp_path / "engram.yaml"
    config.write_text(f"model_cache_dir: {tmp_path / 'mine'}\n")
    assert EngramConfig.from_file(config).model_cache_dir == str(tmp_path / "mine")


def test_a_damaged_model_is_rebuilt(tmp_path: Path) -> None:
    models = tmp_path / "machine-cache"
    Memory(tmp_path / "a.db", model_cache_dir=str(models)).close()
    [model] = derived(models)
    good = model.read_bytes()
    with model.open("r+b") as file:  # a flipped byte in the middle: same size, wrong hash
        file.seek(len(good) // 2)
        file.write(bytes([good[len(good) // 2] ^ 0xFF]))
    assert not verified(model)
    with Memory(tmp_path / "b.db", model_cache_dir=str(models)) as b:
        assert b.embedder.embed(["hello"]).shape == (1, 384)
    assert verified(model) and model.read_bytes() == good
    model.with_suffix(".sha256").unlink()  # no record: not trusted, derived again
    Memory(tmp_path / "c.db", model_cache_dir=str(models)).close()
    assert verified(model)


def test_two_processes_deriving_at_once_leave_one_whole_model(tmp_path: Path) -> None:
    models = tmp_path / "machine-cache"
    script = (
        "import sys\n"
        "from engramdb import Memory\n"
        "with Memory(sys.argv[1], model_cache_dir=sys.argv[2]) as m:\n"
        "    print(m.embedder.embed(['the same text'])[0][:4].round(5).tolist())\n"
    )
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / f"{n}.db"), str(models)],
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    assert outputs[0][0] == outputs[1][0]  # the same vectors from the one model
    [model] = derived(models)
    assert verified(model)
    assert sorted(p.name for p in models.iterdir()) == sorted(
        [model.name, model.with_suffix(".sha256").name, ".minilm.lock"]
    )
