"""Compatible statements made in separate sessions (data/preferences.jsonl, written by someone
who never read the code; validation: never tune on it): sets of preferences a question needs
all of ("What cuisines does Lena enjoy?"), and chains of 2-4 linked statements. Each scenario
is one user; its messages go in one by one, the work queue is flushed, and each question is
asked with ``limit=10``. Reported per extraction mode and per type: how often every evidence
message is in the top 10 (all@10), turn recall@10, and how many facts drawn from evidence
messages were closed (a compatible statement must never supersede another).
"""

from __future__ import annotations

import json
import statistics
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engramdb.api.memory import Memory
from engramdb.bench.metrics import distinct_sources

DATA = Path(__file__).parent / "data" / "preferences.jsonl"


def run(
    mode: str,
    *,
    path: Path = DATA,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    scenarios = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    every: dict[str, list[float]] = defaultdict(list)
    recall: dict[str, list[float]] = defaultdict(list)
    closed = 0
    with (
        tempfile.TemporaryDirectory() as tmp,
        Memory(Path(tmp) / "prefs.db", extraction={"mode": mode}) as mem,
    ):
        for done, scenario in enumerate(scenarios, 1):
            user = scenario["user"]
            for m in scenario["messages"]:
                message = {"id": m["id"], "content": m["content"], "speaker": m.get("speaker")}
                message["role"] = m.get("role", "user")
                mem.add([message], user_id=user, session_id=m["session"], timestamp=m["timestamp"])
            mem.flush()
            for q in scenario["questions"]:
                hits = mem.search(q["question"], user_id=user, limit=10)
                top = set(distinct_sources((h.sources for h in hits), 10))
                gold = set(q["evidence"])
                for key in ("all", scenario["type"]):
                    every[key].append(float(gold <= top))
                    recall[key].append(len(gold & top) / len(gold))
                evidence = {e for q in scenario["questions"] for e in q["evidence"]}
            facts = mem.list(user_id=user, kind="fact", limit=10_000)
            closed += sum(1 for f in facts if f.valid_to is not None and set(f.sources) & evidence)
            if progress:
                progress(f"preferences ({mode})", done, len(scenarios))
    return {
        "mode": mode,
        "scenarios": len(scenarios),
        "all@10": {k: statistics.fmean(v) for k, v in every.items()},
        "R@10": {k: statistics.fmean(v) for k, v in recall.items()},
        "questions": {k: len(v) for k, v in every.items()},
        "evidence_facts_closed": closed,
    }
