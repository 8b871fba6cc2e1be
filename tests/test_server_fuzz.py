"""Fuzz the OpenAPI surface with schemathesis (valid and invalid requests, bounded in time):
the service must never answer 5xx, and every 4xx must be a JSON error with a code. A second
pass takes schemathesis's valid requests and makes them hostile where the schema is loosest
(strings, metadata, a message's extra fields, timestamps: tests/hostile.py), then sends them
as raw JSON, so lone surrogates and NaN reach the server as a careless client writes them."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest
import schemathesis
from hostile import DATE_WORDS, EDGE_CHARS, STAMPS, TEXT, metadata, mostly, nested
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from service_helpers import LiveServer, add

BUDGET_S = 30.0
EXAMPLES = 40  # per operation and mode
HOSTILE_BUDGET_S = 20.0
HOSTILE_EXAMPLES = 25  # per operation
TIME_FIELDS = {"timestamp", "as_of", "expires_at"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("fuzz") / "memory.db").start()
    yield live
    live.stop()


class Fuzzer:
    """Sends generated requests until the time budget is spent; collects what went wrong."""

    def __init__(self, budget_s: float) -> None:
        self.deadline = time.monotonic() + budget_s
        self.failures: list[str] = []
        self.calls = 0
        self.server_errors = 0

    def out_of_time(self) -> bool:
        return time.monotonic() > self.deadline

    def check(self, case: Any, key: str) -> None:
        if self.out_of_time():
            return
        response = case.call(headers={"Authorization": f"Bearer {key}"}, timeout=30)
        self.judge(f"{case.method} {case.formatted_path}", response)

    def judge(self, request: str, response: Any) -> None:
        self.calls += 1
        label = f"{request} -> {response.status_code}"
        if response.status_code >= 500:
            self.server_errors += 1
            self.failures.append(f"{label}: {response.text[:300]}")
        elif response.status_code >= 400:
            body = response.json()
            if not isinstance(body.get("error", {}).get("code"), str):
                self.failures.append(f"{label}: error without a code: {response.text[:200]}")

    def run(self, operation: Any, mode: GenerationMode, key: str) -> None:
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def exercise(case: Any) -> None:
            self.check(case, key)

        with contextlib.suppress(Unsatisfiable):  # no invalid request exists (GET /healthz)
            exercise()

    def run_hostile(self, operation: Any, client: httpx.Client, ids: list[str]) -> None:
        """Valid requests of ``operation``, made hostile (``harden``), sent as raw JSON."""

        @settings(
            max_examples=HOSTILE_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE), data=st.data())
        def exercise(case: Any, data: st.DataObject) -> None:
            # every draw first, then the clock: hypothesis requires an example to draw the same
            # whenever it is replayed, and failures are collected, never raised
            body = harden(case.body, data.draw) if isinstance(case.body, dict | list) else None
            if "memory_id" in (case.path_parameters or {}):  # mostly one that exists
                case.path_parameters["memory_id"] = data.draw(
                    mostly(st.sampled_from(ids), st.just(case.path_parameters["memory_id"]))
                )
            query = {
                name: data.draw(mostly(st.just(value), TEXT)) if isinstance(value, str) else value
                for name, value in (case.query or {}).items()
            }
            if self.out_of_time():
                return
            try:  # a lone surrogate cannot be put in a URL: the client refuses, not the server
                request = client.build_request(
                    case.method,
                    case.formatted_path,
                    params=query,
                    content=None if body is None else json.dumps(body).encode(),
                    headers={"Content-Type": "application/json"},
                )
            except (UnicodeEncodeError, ValueError):
                return
            self.judge(f"hostile {case.method} {case.formatted_path}", client.send(request))

        with contextlib.suppress(Unsatisfiable):
            exercise()


HOSTILE_TEXT = st.one_of(
    TEXT,
    st.sampled_from(DATE_WORDS).map(lambda words: f"the party is on {words}"),
    st.sampled_from(EDGE_CHARS).map(lambda char: f"text with {char} inside"),
)
HOSTILE_JSON = st.one_of(
    st.integers(255, 900).map(lambda depth: nested(depth)),
    st.integers(30, 40).map(lambda depth: nested(depth)),
    metadata(max_depth=900),
)


def harden(body: Any, draw: Any) -> Any:
    """``body`` (a valid generated JSON body) with one or two of its slots made hostile: a
    string any text (dates at the calendar's end, lone surrogates, NUL), a timestamp any
    time, the metadata (or a message's new extra field) deep, wide or NaN-laden JSON.
    json.dumps then writes NaN and escapes lone surrogates, as a careless client would."""
    slots: list[tuple[Any, Any, str]] = []  # (container, key, kind)

    def walk(value: Any, key: str = "") -> None:
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for name, item in list(items):
            label = name if isinstance(name, str) else key
            if label == "metadata" or isinstance(item, dict | list):
                slots.append((value, name, "json" if label == "metadata" else "skip"))
            if label in TIME_FIELDS:
                slots.append((value, name, "time"))
            elif isinstance(item, str):
                slots.append((value, name, "text"))
            if isinstance(item, dict | list) and label != "metadata":
                walk(item, label)
        if isinstance(value, dict) and ("content" in value or "messages" in value):
            slots.append((value, "metadata" if "messages" in value else "extra", "json"))

    walk(body)
    slots = [slot for slot in slots if slot[2] != "skip"]
    for _ in range(draw(st.integers(1, 2)) if slots else 0):
        container, key, kind = slots[draw(st.integers(0, len(slots) - 1))]
        if kind == "time":
            stamp = draw(STAMPS)
            container[key] = stamp.isoformat() if hasattr(stamp, "isoformat") else stamp
        else:
            container[key] = draw(HOSTILE_JSON if kind == "json" else HOSTILE_TEXT)
    return body


def test_fuzzing_the_openapi_surface_finds_no_server_error(server: LiveServer) -> None:
    writer = server.new_key("fuzz", "write")
    with server.client(writer) as api:  # something to find, edit and delete
        add(api, "alice", "I like hiking", "We adopted a puppy")
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    fuzzer = Fuzzer(BUDGET_S)
    for result in schema.get_all_operations():
        operation = result.ok()
        key = server.admin if operation.path.startswith("/v1/keys") else writer
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if not fuzzer.out_of_time():
                fuzzer.run(operation, mode, key)
    print(f"fuzz: {fuzzer.calls} requests, {fuzzer.server_errors} answered 5xx")
    assert fuzzer.calls >= 200, f"only {fuzzer.calls} requests were made"
    assert not fuzzer.failures, "\n".join(fuzzer.failures[:20])


def test_hostile_requests_find_no_server_error(server: LiveServer) -> None:
    writer = server.new_key("hostile", "write")
    with server.client(writer) as api:
        ids = add(api, "alice", "I like hiking on 31 December 9999", "We adopted a puppy")
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    fuzzer = Fuzzer(HOSTILE_BUDGET_S)
    with server.client(writer) as client:
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.path.startswith("/v1/keys") or fuzzer.out_of_time():
                continue  # keys: no free text to harden; the first pass covers them
            fuzzer.run_hostile(operation, client, ids)
    print(f"hostile fuzz: {fuzzer.calls} requests, {fuzzer.server_errors} answered 5xx")
    assert fuzzer.calls >= 150, f"only {fuzzer.calls} requests were made"
    assert not fuzzer.failures, "\n".join(fuzzer.failures[:20])
