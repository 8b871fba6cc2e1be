"""The CLI on the probe's inputs: dates at the end of year 9999 (once a traceback) work, and
input mistakes (deep metadata in an import, a timestamp past the calendar) are one line
``error: ...`` and a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import engram, one_error_line
from typer.testing import CliRunner

from engramdb.cli.main import app


@pytest.mark.parametrize("words", ["31 December 9999", "9999-12-31", "in 9000 years"])
def test_dates_at_the_calendars_end_work_in_the_cli(config: Path, words: str) -> None:
    code, out, err = engram(config, "add", f"the party is on {words}", "-u", "u", "--json")
    assert code == 0, err
    memory_id = json.loads(out)[0]["id"]
    code, out, err = engram(config, "search", f"party {words}", "-u", "u", "--json")
    assert code == 0, err
    assert [hit["id"] for hit in json.loads(out)] == [memory_id]


def test_a_timestamp_past_the_calendar_is_one_error_line(config: Path) -> None:
    code, _, err = engram(config, "add", "hi", "-u", "u", "--timestamp", "9999-12-31T23:00-05:00")
    assert "timestamp" in one_error_line(code, err)


@pytest.mark.parametrize("depth", [40, 300, 5000])
def test_deep_metadata_in_an_import_is_one_error_line(
    config: Path, tmp_path: Path, depth: int
) -> None:
    deep = '{"a": ' * depth + "1" + "}" * depth
    lines = tmp_path / "deep.jsonl"
    lines.write_text(f'{{"user_id": "u", "content": "hello", "metadata": {deep}}}\n')
    code, _, err = engram(config, "import", str(lines))
    one_error_line(code, err)
    code, out, err = engram(config, "list", "-u", "u", "--json")
    # nothing written: no memory, or (a file that did not parse) not even the store
    assert (code == 0 and json.loads(out) == []) or "no store at" in err


def test_an_error_quoting_markup_prints_it_as_written(config: Path) -> None:
    code, _, err = engram(config, "add", "hi", "-u", "u", "--timestamp", "[bold]never[/bold]")
    assert "'[bold]never[/bold]'" in one_error_line(code, err)


def test_a_mistyped_store_is_an_error_not_a_new_empty_store(config: Path, tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "memroy.db"
    result = CliRunner().invoke(app, ["search", "hello", "-u", "u", "--store", str(missing)])
    assert "no store at" in one_error_line(result.exit_code, result.stderr)
    assert not missing.exists() and not missing.parent.exists()
    code, _, err = engram(config, "add", "hello there", "-u", "u")  # a write makes the store
    assert code == 0, err
    code, out, _ = engram(config, "search", "hello", "-u", "nobody")
    assert code == 0 and "no memories for user 'nobody'" in out


def test_history_prints_a_table_and_json_on_request(config: Path) -> None:
    code, out, err = engram(config, "add", "my [bold]plan[/bold] is to travel", "-u", "u", "--json")
    assert code == 0, err
    memory_id = json.loads(out)[0]["id"]
    code, out, _ = engram(config, "history", memory_id)
    assert code == 0 and "ADD" in out and "[bold]plan[/bold]" in out  # markup printed as written
    code, out, _ = engram(config, "history", memory_id, "--json")
    assert code == 0 and [e["event"] for e in json.loads(out)] == ["ADD"]
