"""Shared CLI plumbing: opening the store from flags, one-line errors, progress bars."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from engramdb.api.memory import Memory
from engramdb.config import EngramConfig
from engramdb.errors import EngramError, InvalidInputError
from engramdb.store import backend_name

P = ParamSpec("P")
T = TypeVar("T")
console = Console()
errors = Console(stderr=True)
DEFAULT_STORE = "~/.engramdb/memory.db"


def fail(message: str, code: int = 1) -> None:
    # soft_wrap: one line whatever its length (rich would break it at the console's width,
    # 80 columns when stderr is not a terminal, and scripts read errors line by line)
    # escape: a message quoting the user's input ("[red]" in an id) is not markup
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def friendly(fn: Callable[P, T]) -> Callable[P, T]:
    """User mistakes become one clear line and a non-zero exit, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except EngramError as exc:
            fail(str(exc))
        except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            fail(f"{exc.strerror}: {exc.filename}")
        except KeyboardInterrupt:
            fail("interrupted", 130)
        raise AssertionError("unreachable")

    return wrapper


def build_config(store: str | None, config_file: Path | None, **overrides: Any) -> EngramConfig:
    fields = {k: v for k, v in overrides.items() if v is not None}
    if store:
        fields["store"] = store
    if config_file:
        return EngramConfig.from_file(config_file, **fields)
    fields.setdefault("store", DEFAULT_STORE)
    return EngramConfig.build(**fields)


@contextmanager
def open_memory(
    store: str | None, config_file: Path | None, *, create: bool = False, **overrides: Any
) -> Iterator[Memory]:
    """The configured store; one that does not exist yet is made only by a command that
    writes (``create``): a mistyped ``--store`` is an error, not a new empty store."""
    config = build_config(store, config_file, **overrides)
    path = Path(config.store).expanduser()
    if not create and backend_name(config.store) == "sqlite" and not path.exists():
        raise InvalidInputError(
            f"no store at {path}: `engram add` or `engram import` makes one (a mistyped --store?)"
        )
    with Memory(config=config) as memory:
        yield memory


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar fed by ``update(stage, done, total)``; silent when not a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield lambda stage, done, total: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=errors, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update
