"""Fuzz the OpenAPI surface with schemathesis (valid and invalid requests, bounded in time):
the service must never answer 5xx, and every 4xx must be a JSON error with a code."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from service_helpers import LiveServer, add

BUDGET_S = 30.0
EXAMPLES = 40  # per operation and mode


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

    def out_of_time(self) -> bool:
        return time.monotonic() > self.deadline

    def check(self, case: Any, key: str) -> None:
        if self.out_of_time():
            return
        response = case.call(headers={"Authorization": f"Bearer {key}"}, timeout=30)
        self.calls += 1
        label = f"{case.method} {case.formatted_path} -> {response.status_code}"
        if response.status_code >= 500:
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
    print(f"fuzz: {fuzzer.calls} requests")
    assert fuzzer.calls >= 200, f"only {fuzzer.calls} requests were made"
    assert not fuzzer.failures, "\n".join(fuzzer.failures[:20])
