"""The claim-quality scorer (bench/claims.py) on a small file written here: what it counts."""

from __future__ import annotations

import json
from pathlib import Path

from engramdb.bench.claims import overlap, run


def _item(i: int, content: str, claims: list[dict[str, str]]) -> dict[str, object]:
    message = {"speaker": "Ana", "role": "user", "content": content,
               "timestamp": "2023-01-05T10:00:00Z"}  # fmt: skip
    return {"id": f"t{i}", "context": [], "message": message, "claims": claims}


def test_the_scorer_counts_matches_misses_and_claims_drawn_from_chat(tmp_path: Path) -> None:
    assert overlap("Luis works as a firefighter in Porto", "Luis is a firefighter in Porto") > 0.5
    assert overlap("Ana lives in Lisbon", "Ana adopted a cat") < 0.5
    lisbon = {"subject": "Ana", "statement": "Ana lives in Lisbon", "polarity": "positive",
              "tense": "current"}  # fmt: skip
    unsaid = {"subject": "Ana", "statement": "Ana owns a red bicycle", "polarity": "positive",
              "tense": "current"}  # fmt: skip
    path = tmp_path / "claims.jsonl"
    rows = [
        _item(1, "I live in Lisbon.", [lisbon, unsaid]),  # one found, one the text never says
        _item(2, "haha same", []),  # nothing to find
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    result = run("parse", path=path, options={"embedder": {"provider": "static"}})
    assert result["labelled_claims"] == 2 and result["messages"] == 2
    assert result["recall"] == 0.5  # Lisbon, not the bicycle
    assert result["predicted_claims"] >= 1 and 0 < result["precision"] <= 1
    assert result["no_information_share"] == 0.0  # nothing drawn from "haha same"
    assert result["tense_agrees"] == 1.0
