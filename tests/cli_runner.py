"""Running `engram` in-process, shared by the CLI tests (the store: conftest's ``config``)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from engramdb.cli.main import app


def engram(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [*args, "--config", str(config)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def one_error_line(code: int, err: str) -> str:
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]
