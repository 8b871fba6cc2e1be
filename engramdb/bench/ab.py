"""A/B of this engramdb against another revision of it, in one process: the other revision's
package is extracted from git under another name (``engramdb_<rev>``, its imports rewritten),
and both run the LoCoMo benchmark (bench/locomo.py, each its own) on the same conversations,
in alternating order, so that a busy or noisy machine weighs on both alike. Reported: recall
of each, and ingest and search latency as ratios (this one / the other), per round and as
medians over the rounds.
"""

from __future__ import annotations

import importlib
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from types import ModuleType
from typing import Any

from engramdb.errors import InvalidInputError

_IMPORT = re.compile(r"\bengramdb(?=\.[a-z_])|(?<=from )engramdb(?= import)|(?<=import )engramdb\b")


def extract(rev: str, repo: Path, into: Path) -> ModuleType:
    """The engramdb package of ``rev`` importable as ``engramdb_<rev>``."""
    name = "engramdb_" + re.sub(r"\W", "_", rev)
    try:
        blob = subprocess.run(
            ["git", "-C", str(repo), "archive", rev, "engramdb"], check=True, capture_output=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise InvalidInputError(f"cannot read revision {rev!r} of {repo}: {exc}") from exc
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")
    (into / "engramdb").rename(into / name)
    for path in (into / name).rglob("*.py"):
        path.write_text(_IMPORT.sub(name, path.read_text()))
    sys.path.insert(0, str(into))
    return importlib.import_module(f"{name}.bench.locomo")


def run(
    rev: str,
    data_dir: Path,
    *,
    conversations: list[str] | None,
    rounds: int,
    memory_options: dict[str, Any],
    progress: Callable[[str, int, int], None] | None = None,
    fresh_store: Callable[[int], str] | None = None,
) -> dict[str, Any]:
    """``fresh_store(n)``: an empty store for the n-th run (default: a temporary SQLite file)."""
    from engramdb.bench import locomo

    repo = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as tmp:
        other = extract(rev, repo, Path(tmp))
        sides: dict[str, ModuleType] = {"this": locomo, rev: other}
        rows: list[dict[str, Any]] = []
        for round_ in range(rounds):
            order = list(sides) if round_ % 2 == 0 else list(sides)[::-1]
            found: dict[str, Any] = {}
            for side in order:
                store = fresh_store(len(rows) * 2 + len(found)) if fresh_store else None
                result = sides[side].run(
                    data_dir,
                    memory_options=memory_options,
                    conversations=conversations,
                    baselines=False,
                    progress=progress,
                    store=store,
                )
                found[side] = result
            this, that = found["this"], found[rev]
            rows.append(
                {
                    "recall@10": {
                        s: found[s].systems["engramdb|all"]["all"]["R@10"] for s in sides
                    },
                    "ingest_turns_per_s": {s: found[s].ingest_turns_per_s for s in sides},
                    "search_p50_ms": {s: found[s].search_ms["p50"] for s in sides},
                    "search_p95_ms": {s: found[s].search_ms["p95"] for s in sides},
                    "ingest_ratio": this.ingest_turns_per_s / that.ingest_turns_per_s,
                    "p50_ratio": this.search_ms["p50"] / that.search_ms["p50"],
                    "p95_ratio": this.search_ms["p95"] / that.search_ms["p95"],
                }
            )
    medians = {
        key: statistics.median(r[key] for r in rows)
        for key in ("ingest_ratio", "p50_ratio", "p95_ratio")
    }
    return {"rev": rev, "rounds": rows, "median": medians, "memory_options": memory_options}


def pgserver_database(n: int) -> str:
    """A fresh database on the private PostgreSQL server of ``engram pgserver``."""
    command = [sys.executable, "-m", "engramdb.cli.main", "pgserver", "--database", f"ab_{n}"]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]
