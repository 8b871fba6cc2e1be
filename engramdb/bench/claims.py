"""Claim quality on a labelled set (data/claims.jsonl, written by someone who never read the
code; validation: never tune on it). Each item is a message (with the turns before it) and the
claims a careful reader finds in it, or none for greetings, thanks, agreement, questions and
remarks about the listener.

Each item goes through the public API as one user's conversation (``add(..., wait=True)``); the
facts drawn from the labelled message are its predicted claims. A predicted claim matches a
labelled one when their statements share most content words (token F1 ≥ ``MATCH``, words cut
to their first five letters so "allergic" meets "allergies"), each labelled claim matched at
most once. Reported: precision (matched predictions / predictions), recall (matched labels /
labels), the share of predictions made on messages that hold no claim (facts that carry no
information), and, among matches, how often polarity and tense agree.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engramdb.api.memory import Memory
from engramdb.encode.text import query_terms

DATA = Path(__file__).parent / "data" / "claims.jsonl"
MATCH = 0.5  # token F1 of two statements that say the same thing in other words


def stems(text: str) -> set[str]:
    return {word[:5] for word in query_terms(text, limit=64)}


def overlap(a: str, b: str) -> float:
    left, right = stems(a), stems(b)
    common = len(left & right)
    if not common:
        return 0.0
    precision, recall = common / len(left), common / len(right)
    return 2 * precision * recall / (precision + recall)


def run(
    mode: str,
    *,
    path: Path = DATA,
    progress: Callable[[str, int, int], None] | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    predicted = matched_predictions = labelled = matched_labels = empty_predictions = 0
    polarity = tense = 0
    extraction = {"mode": mode}
    with (
        tempfile.TemporaryDirectory() as tmp,
        Memory(Path(tmp) / "claims.db", extraction=extraction, **(options or {})) as mem,
    ):
        for done, item in enumerate(items, 1):
            facts = _facts(mem, item)
            gold = item["claims"]
            labelled += len(gold)
            predicted += len(facts)
            empty_predictions += len(facts) if not gold else 0
            free = list(range(len(gold)))
            for fact in facts:
                scores = [(overlap(fact.text, gold[i]["statement"]), i) for i in free]
                best, index = max(scores, default=(0.0, -1))
                if best >= MATCH:
                    free.remove(index)
                    matched_predictions += 1
                    polarity += _polarity(fact.text) == gold[index].get("polarity")
                    said = fact.metadata.get("tense", "current")
                    tense += said == gold[index].get("tense", "current")
            matched_labels += len(gold) - len(free)
            if progress:
                progress(f"claims ({mode})", done, len(items))
    return {
        "mode": mode,
        "messages": len(items),
        "labelled_claims": labelled,
        "predicted_claims": predicted,
        "precision": matched_predictions / predicted if predicted else 0.0,
        "recall": matched_labels / labelled if labelled else 0.0,
        "no_information_share": empty_predictions / predicted if predicted else 0.0,
        "polarity_agrees": polarity / matched_predictions if matched_predictions else 0.0,
        "tense_agrees": tense / matched_predictions if matched_predictions else 0.0,
        "match_f1": MATCH,
    }


def _facts(mem: Memory, item: dict[str, Any]) -> list[Any]:
    user = f"claims-{item['id']}"
    said = [*item.get("context", []), item["message"]]
    messages = [
        {
            "id": f"{item['id']}-{i}",
            "content": m["content"],
            "speaker": m.get("speaker"),
            "role": m.get("role", "user"),
        }
        for i, m in enumerate(said)
    ]
    stamp = item["message"].get("timestamp")
    mem.add(messages, user_id=user, timestamp=stamp, wait=True)
    mine = f"{item['id']}-{len(said) - 1}"
    return [f for f in mem.list(user_id=user, kind="fact", limit=1000) if mine in f.sources]


def _polarity(text: str) -> str:
    return "negative" if {"not", "never", "no"} & set(text.lower().split()) else "positive"
