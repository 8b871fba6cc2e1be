"""Benchmark output: tables on the terminal, a JSON file and a PNG chart."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from engramdb.bench.locomo import LocomoResult

METRICS = ("R@5", "R@10", "R@20", "all@10", "session@10")
SYSTEMS = ("bm25", "dense", "rrf", "engramdb")


def locomo_tables(result: LocomoResult, console: Console, split: str = "all") -> None:
    categories = [c for c in result.systems.get(f"engramdb|{split}", {}) if c != "all"] + ["all"]
    for category in categories:
        table = Table(title=f"LoCoMo {category} ({split} conversations)", title_justify="left")
        table.add_column("system")
        for metric in METRICS:
            table.add_column(metric, justify="right")
        for system in SYSTEMS:
            row = result.systems.get(f"{system}|{split}", {}).get(category)
            if row:
                table.add_row(system, *(f"{row[m]:.3f}" for m in METRICS))
        console.print(table)
    stages = Table(title="Where a search's time goes (ms)", title_justify="left")
    for column in ("stage", "p50", "p95", "mean"):
        stages.add_column(column, justify="left" if column == "stage" else "right")
    for stage, ms in result.stage_ms.items():
        stages.add_row(stage, f"{ms['p50']:.2f}", f"{ms['p95']:.2f}", f"{ms['mean']:.2f}")
    search, alone = result.search_ms, result.query_embed_ms
    stages.add_row(
        "search (a client's call)", *(f"{search[k]:.2f}" for k in ("p50", "p95", "mean"))
    )
    stages.add_row(
        "the query embedding alone", *(f"{alone[k]:.2f}" for k in ("p50", "p95", "mean"))
    )
    console.print(stages)
    embed = result.embed_only_turns_per_s
    console.print(
        f"add {result.ingest_turns_per_s:.0f} turns/s = {result.ingest_turns_per_s / embed:.2f}x"
        f" the embedder alone ({embed:.0f}/s) · enrichment {result.enrich_turns_per_s:.0f}"
        f" turns/s · search p50 {search['p50']:.2f} ms, p95 {search['p95']:.2f} ms ="
        f" {search['p50'] / alone['p50']:.2f}x the query embedding alone (p50)"
    )


def write_outputs(result: LocomoResult | dict[str, Any], out_dir: Path, name: str) -> Path:
    """Write ``<name>-<time>.json`` (and a PNG chart for LoCoMo); return the JSON path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    data = asdict(result) if isinstance(result, LocomoResult) else result
    path = out_dir / f"{name}-{stamp}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    if isinstance(result, LocomoResult):
        _chart(result, out_dir / f"{name}-{stamp}.png")
    return path


def _chart(result: LocomoResult, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return  # charts need the [bench] extra; the JSON and tables are written regardless
    categories = [c for c in result.systems["engramdb|all"] if c != "all"] + ["all"]
    width = 0.8 / len(SYSTEMS)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for i, system in enumerate(SYSTEMS):
        values = [
            result.systems.get(f"{system}|all", {}).get(c, {}).get("R@10", 0) for c in categories
        ]
        ax.bar([x + i * width for x in range(len(categories))], values, width, label=system)
    ax.set_xticks([x + width * (len(SYSTEMS) - 1) / 2 for x in range(len(categories))], categories)
    ax.set_ylabel("turn recall@10")
    ax.set_ylim(0, 1)
    ax.set_title("LoCoMo retrieval, categories 1-4")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
