"""The changing-facts benchmark: its scenario file is well formed, and a short run adds up."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from engramdb.bench import updates

SCENARIOS = updates.load_scenarios()
# written later, by someone who had not read the extraction code (a check on generality)
FRESH = updates.load_scenarios(updates.FRESH)


def _parse(stamp: str) -> datetime:
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, stamp
    return parsed


def test_enough_scenarios_and_topics() -> None:
    assert len(SCENARIOS) >= 48
    assert len({s["topic"] for s in SCENARIOS}) >= 5
    ids = [s["id"] for s in SCENARIOS]
    assert len(ids) == len(set(ids))
    users = [s["user"] for s in SCENARIOS]
    assert len(users) == len(set(users))


def test_the_fresh_set_is_apart_from_the_first() -> None:
    assert len(FRESH) >= 24
    assert not {s["user"] for s in FRESH} & {s["user"] for s in SCENARIOS}
    assert not {s["id"] for s in FRESH} & {s["id"] for s in SCENARIOS}


@pytest.mark.parametrize("scenario", SCENARIOS + FRESH, ids=[s["id"] for s in SCENARIOS + FRESH])
def test_scenario_is_well_formed(scenario: updates.Scenario) -> None:
    assert len(scenario["messages"]) >= 2
    assert len({m["session"] for m in scenario["messages"]}) >= 2
    for message in scenario["messages"]:
        _parse(message["timestamp"])
        assert message["role"] in ("user", "assistant")
        assert message["content"].strip()
        assert message["speaker"].strip()
    assert scenario["questions"]
    for question in scenario["questions"]:
        assert question["question"].strip()
        assert question["current"]
        assert all(c.strip() for c in question["current"] + question["stale"])
        if question["as_of"] is not None:
            _parse(question["as_of"])
        current = [c.casefold() for c in question["current"]]
        stale = [s.casefold() for s in question["stale"]]
        overlap = [(c, s) for c in current for s in stale if c in s or s in c]
        assert not overlap, (question["question"], overlap)


def test_every_answer_was_said() -> None:
    """A current answer must occur in the conversation, or no memory could hold it."""
    for scenario in SCENARIOS + FRESH:
        said = " ".join(m["content"] for m in scenario["messages"]).casefold()
        for question in scenario["questions"]:
            assert any(c.casefold() in said for c in question["current"]), question


def test_some_scenarios_test_history_and_order() -> None:
    as_of = [q for s in SCENARIOS for q in s["questions"] if q["as_of"]]
    assert len(as_of) >= 20
    out_of_order = [
        s["id"]
        for s in SCENARIOS
        if any(
            _parse(b["timestamp"]) < _parse(a["timestamp"])
            for a, b in zip(s["messages"], s["messages"][1:], strict=False)
        )
    ]
    assert len(out_of_order) >= 3


def test_classify() -> None:
    question: updates.Question = {
        "question": "Where does Maya work now?",
        "current": ["St. Mary"],
        "stale": ["Google"],
        "as_of": None,
    }
    assert updates.classify("Maya works at st. mary's hospital", question) == "right"
    assert updates.classify("Maya left Google for St. Mary's", question) == "right"
    assert updates.classify("Maya works at Google", question) == "stale"
    assert updates.classify("Sam works at Microsoft", question) == "wrong"
    assert updates.classify(None, question) == "missing"


def test_short_rules_run_adds_up(tmp_path: Path) -> None:
    result = updates.run("rules", limit=3, work_dir=tmp_path, embedder={"provider": "static"})
    assert result["scenarios"] == 3
    shares = result["shares"]
    assert sum(shares[o] for o in updates.OUTCOMES) == pytest.approx(1.0, abs=1e-3)
    assert sum(result["totals"][o] for o in updates.OUTCOMES) == result["questions"]
    assert 0.0 <= shares["answer_in_top5"] <= 1.0
    assert set(result["by_topic"]) <= {s["topic"] for s in SCENARIOS}
