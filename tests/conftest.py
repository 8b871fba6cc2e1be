"""Shared fixtures for the engramdb test suite.

* Every test runs with outbound network connections blocked (loopback and unix sockets are
  still allowed): engramdb must work fully offline and send no telemetry.
* Store-level and API-level tests run against SQLite and PostgreSQL alike (``store_target``,
  ``static_memory``, ``memory`` are parametrised by backend). PostgreSQL is a private server
  started once per session by ``pgserver`` (PostgreSQL + pgvector from PyPI), or the server that
  ``ENGRAMDB_TEST_PG_DSN`` (a postgresql:// URI) names; each store gets a fresh schema.
* The default embedder (MiniLM) derives an int8 copy of its model once per machine, into
  ``EngramConfig.model_cache_dir`` (``~/.cache/engramdb/models`` unless XDG_CACHE_HOME says
  otherwise; about 3 s the first time), which every store then shares: fresh MiniLM stores open
  in a fraction of a second. (``primed_path`` and friends still hard-link those files into a
  store's cache folder, as older versions kept them; nothing reads them there now.)
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from refusals import USER
from stores import BACKENDS, new_schema

from engramdb import EngramConfig, Memory

STATIC = {"provider": "static"}


# --- no network ----------------------------------------------------------------------------
class NetworkAccessBlocked(RuntimeError):
    """Raised by the guard when code under test tries to reach a non-loopback address."""


def _is_local(address: Any) -> bool:
    if isinstance(address, str | bytes):  # AF_UNIX path (or abstract socket name)
        return True
    if isinstance(address, tuple) and address:
        host = address[0]
        if isinstance(host, bytes):
            host = host.decode()
        if host in ("localhost", ""):
            return True
        try:
            return ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            return False  # a host name: resolving it would already be network traffic
    return False


@pytest.fixture(scope="session", autouse=True)
def no_network() -> Iterator[None]:
    """Make any outbound, non-loopback connection fail loudly for the whole session."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if self.family == getattr(socket, "AF_UNIX", object()) or _is_local(address):
            return real_connect(self, address)
        raise NetworkAccessBlocked(f"test tried to connect to {address!r}")

    def guarded_connect_ex(self: socket.socket, address: Any) -> Any:
        if self.family == getattr(socket, "AF_UNIX", object()) or _is_local(address):
            return real_connect_ex(self, address)
        raise NetworkAccessBlocked(f"test tried to connect to {address!r}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", guarded_connect)
        patch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
        yield


# --- paths and stores ------------------------------------------------------------------------
@pytest.fixture(scope="session")
def minilm_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder holding the derived MiniLM model files (derived once per machine)."""
    base = tmp_path_factory.mktemp("minilm-seed")
    Memory(base / "seed.db").close()
    models = Path(EngramConfig.build().model_cache_dir)
    assert any(models.glob("minilm-int8-*.onnx")), "the default embedder did not derive its model"
    return models


def prime(db_path: Path, models: Path) -> Path:
    """Place the derived model into ``<db>.cache/models`` (hard link; copy as fallback)."""
    prime_cache(Path(f"{db_path}.cache"), models)
    return db_path


def prime_cache(cache: Path, models: Path) -> None:
    target = cache / "models"
    target.mkdir(parents=True, exist_ok=True)
    for file in models.iterdir():
        dest = target / file.name
        if dest.exists():
            continue
        try:
            os.link(file, dest)
        except OSError:
            shutil.copy2(file, dest)


# --- PostgreSQL -------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def pg_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A DSN of a PostgreSQL server with pgvector: ENGRAMDB_TEST_PG_DSN, or a private pgserver
    instance (initdb + start take about 2 s; stopped and deleted at the end of the session)."""
    external = os.environ.get("ENGRAMDB_TEST_PG_DSN")
    if external:
        yield external
        return
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="delete")
    dsn = server.get_uri()
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    yield dsn
    server.cleanup()


@pytest.fixture
def pg_target(pg_base: str) -> str:
    """A fresh PostgreSQL store (its own schema)."""
    return new_schema(pg_base)


def _target(request: pytest.FixtureRequest, backend: str, folder: Path) -> str:
    if backend == "sqlite":
        return str(folder / "memory.db")
    return new_schema(request.getfixturevalue("pg_base"))


@pytest.fixture(params=BACKENDS)
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store on each backend: a SQLite path, or a PostgreSQL DSN."""
    return _target(request, request.param, tmp_path)


def cache_of(target: str | Path) -> Path:
    """The folder of derived files that ``Memory(target)`` uses by default."""
    config = EngramConfig.build(store=str(target))
    return Path(config.cache_dir or f"{target}.cache").expanduser()


@pytest.fixture
def primed_target(store_target: str, minilm_models: Path) -> Iterator[str]:
    """``store_target`` whose cache already holds the derived MiniLM model."""
    cache = cache_of(store_target)
    prime_cache(cache, minilm_models)
    yield store_target
    if cache.exists() and str(store_target).startswith("postgresql://"):
        shutil.rmtree(cache)  # under ~/.engramdb/cache: leave nothing behind


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """A fresh store path (nothing exists there yet)."""
    return tmp_path / "memory.db"


@pytest.fixture
def primed_path(store_path: Path, minilm_models: Path) -> Path:
    """A fresh store path whose cache already holds the derived MiniLM model."""
    return prime(store_path, minilm_models)


@pytest.fixture
def primer(minilm_models: Path) -> Callable[[Path], Path]:
    return lambda path: prime(path, minilm_models)


RAW = {"mode": "off", "link_entities": False}
# rule-based slot facts as before, without notes (each statement kept as a fact, on by default):
# for tests of storage, transfer and the service, whose counts and rankings are about messages
NO_NOTES = {"notes": False}


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Memory, str, list]]:
    """(memory, store target, the items of ``USER``): a store for tests of refused input
    (``refusals.assert_refused``), one per module and backend."""
    if request.param == "sqlite":
        path = str(tmp_path_factory.mktemp("bad-input") / "memory.db")
    else:
        path = new_schema(request.getfixturevalue("pg_base"))
    m = Memory(path, embedder=STATIC, extraction=NO_NOTES)
    items = m.add(
        [
            {"id": "s1", "content": "I keep my passport in the top drawer"},
            {"id": "s2", "content": "My dentist appointment is on Friday"},
            {"id": "s3", "content": "The garden hose leaks near the tap"},
        ],
        user_id=USER,
        wait=True,  # nothing written behind the tests' snapshots
    )
    yield m, path, items
    m.close()


@pytest.fixture(scope="module", params=BACKENDS)
def memory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, minilm_models: Path
) -> Iterator[Memory]:
    """One default (MiniLM, hybrid) Memory per test module and backend; tests isolate by
    user_id."""
    folder = tmp_path_factory.mktemp("default-store")
    prime_cache(folder / "cache", minilm_models)
    m = Memory(_target(request, request.param, folder), cache_dir=str(folder / "cache"))
    yield m
    m.close()


@pytest.fixture(scope="module", params=BACKENDS)
def static_memory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Memory]:
    """One Memory with the fast static embedder and no fact extraction (messages only: the
    episode-level contract) per test module and backend; tests isolate by user_id."""
    folder = tmp_path_factory.mktemp("static-store")
    m = Memory(_target(request, request.param, folder), embedder=STATIC, extraction=RAW)
    yield m
    m.close()


@pytest.fixture
def uid(request: pytest.FixtureRequest) -> str:
    """A user id unique to the test (so tests sharing a module store do not see each other)."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:80]
    return f"user-{name}-{uuid.uuid4().hex[:8]}"


# --- messages --------------------------------------------------------------------------------
MessageFactory = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def make_messages() -> MessageFactory:
    """``make_messages(["hi", "there"], prefix="m", speaker="Ann")`` -> message dicts with ids
    ``m0, m1, ...``. Speakers alternate when ``speaker`` is a tuple."""

    def build(
        texts: list[str],
        *,
        prefix: str = "m",
        speaker: str | tuple[str, ...] | None = None,
        start: int = 0,
        **extra: Any,
    ) -> list[dict[str, Any]]:
        out = []
        for i, text in enumerate(texts, start=start):
            message: dict[str, Any] = {"id": f"{prefix}{i}", "content": text, **extra}
            if isinstance(speaker, tuple):
                message["speaker"] = speaker[i % len(speaker)]
            elif speaker is not None:
                message["speaker"] = speaker
            out.append(message)
        return out

    return build


def tell(mem: Memory, user: str, lines: list[tuple[str, str]], speaker: str) -> None:
    """Add (timestamp, text) messages by ``speaker`` one by one, ids ``{user}-{i}``, and wait
    for the work queue to draw their claims (as an agent's next turn would find them)."""
    for i, (stamp, text) in enumerate(lines):
        mem.add(
            [{"content": text, "speaker": speaker, "id": f"{user}-{i}"}],
            user_id=user,
            timestamp=stamp,
        )
    mem.flush()


def top_fact(mem: Memory, user: str, question: str, as_of: str | None = None) -> str:
    """The text of the best fact for ``question``."""
    hits = mem.search(question, user_id=user, limit=10, kinds=["fact"], as_of=as_of)
    assert hits, f"no fact for {question!r}"
    return hits[0].text


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config file for `engram` on a throwaway store with the static embedder."""
    path = tmp_path / "engram.yaml"
    path.write_text(f"store: {tmp_path / 'memory.db'}\nembedder:\n  provider: static\n")
    return path
