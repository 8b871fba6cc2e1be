"""repair_json: almost-JSON from small models becomes JSON where that is unambiguous, and
what is inside strings is never touched."""

from __future__ import annotations

import json

import pytest

from engramdb.llm import LLMStats, repair_json
from engramdb.llm.openai_compat import strict_schema


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('```\n{"a": [1, 2]}\n```\nHope this helps!', {"a": [1, 2]}),
        ('Sure! Here it is: {"a": {"b": 2}} -- done', {"a": {"b": 2}}),
        ('{"a": [1, 2,], "b": {"c": 3,},}', {"a": [1, 2], "b": {"c": 3}}),
        ('{"a": True, "b": False, "c": None}', {"a": True, "b": False, "c": None}),
        ("{'subject': 'Maya', 'value': 'nurse'}", {"subject": "Maya", "value": "nurse"}),
        ("{'q': 'she said \"hi\"', 'r': 'it\\'s'}", {"q": 'she said "hi"', "r": "it's"}),
        (
            '{"text": "True, None, and a trailing comma,}"}',
            {"text": "True, None, and a trailing comma,}"},
        ),
        ('{"text": "Maya\'s job, True"}', {"text": "Maya's job, True"}),
        ('{"esc": "a \\"quoted\\" word,]"}', {"esc": 'a "quoted" word,]'}),
        ("{'line': 'one\\ntwo'}", {"line": "one\ntwo"}),
    ],
)
def test_repairs_almost_json(reply: str, expected: object) -> None:
    assert json.loads(repair_json(reply)) == expected


@pytest.mark.parametrize(
    "reply",
    [
        "I don't know.",
        '{"a": "never closed',
        '{"a": 1',  # cut off by max_tokens: guessing the rest could invent data
    ],
)
def test_leaves_what_cannot_be_repaired_invalid(reply: str) -> None:
    with pytest.raises(ValueError):
        json.loads(repair_json(reply))


def test_valid_json_is_unchanged() -> None:
    reply = '{"a": [1, 2.5e3, -3], "b": "x, y}", "c": {"d": null, "e": true}}'
    assert repair_json(reply) == reply


def test_strict_schema_closes_objects_and_requires_every_property() -> None:
    schema = {
        "type": "object",
        "properties": {
            "default": {"type": "string", "default": "x"},  # a property named like a keyword
            "inner": {"$ref": "#/$defs/Inner"},
        },
        "required": ["inner"],
        "$defs": {
            "Inner": {"type": "object", "properties": {"n": {"type": "integer", "default": 1}}}
        },
    }
    strict = strict_schema(schema)
    assert strict["additionalProperties"] is False
    assert strict["required"] == ["default", "inner"]
    assert "default" in strict["properties"]
    assert "default" not in strict["properties"]["default"]
    inner = strict["$defs"]["Inner"]
    assert inner["additionalProperties"] is False and inner["required"] == ["n"]
    assert "additionalProperties" not in schema  # the caller's schema is not modified


def test_stats_add_up_across_threads() -> None:
    import threading

    stats = LLMStats()

    def work() -> None:
        for _ in range(1000):
            stats.add(calls=1, seconds=0.001)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stats.as_dict()["calls"] == 4000
    assert stats.as_dict()["seconds"] == pytest.approx(4.0)
    assert set(stats.as_dict()) == {
        "calls",
        "failures",
        "retries",
        "repaired",
        "invalid",
        "seconds",
    }
