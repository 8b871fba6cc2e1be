"""The compatible-statements scorer (bench/preferences.py) on a scenario written here."""

from __future__ import annotations

import json
from pathlib import Path

from engramdb.bench.preferences import run


def test_the_scorer_counts_every_evidence_message_in_the_top_ten(tmp_path: Path) -> None:
    said = [
        ("m1", "s1", "2023-01-01T10:00:00Z", "I love Ethiopian food, injera every week."),
        ("m2", "s2", "2023-02-01T10:00:00Z", "Sushi night again, my favourite."),
        ("m3", "s3", "2023-03-01T10:00:00Z", "The garden shed needs a new roof."),
    ]
    scenario = {
        "id": "p1",
        "type": "set",
        "user": "u-p1",
        "messages": [
            {"id": i, "session": s, "timestamp": t, "speaker": "Lena", "role": "user", "content": c}
            for i, s, t, c in said
        ],
        "questions": [{"question": "What food does Lena enjoy?", "evidence": ["m1", "m2"]}],
    }
    path = tmp_path / "prefs.jsonl"
    path.write_text(json.dumps(scenario))
    result = run("off", path=path)  # three messages: every one is in the top ten
    assert result["all@10"] == {"all": 1.0, "set": 1.0}
    assert result["R@10"]["all"] == 1.0 and result["evidence_facts_closed"] == 0
