"""The OpenAI-compatible chat model over real HTTP.

A tiny stdlib server plays a misbehaving endpoint (5xx, 429, timeouts, 400 on structured
output, 401, almost-JSON, never-valid replies); no model is needed for those. Then
`engram llm serve` runs the packaged model in a subprocess and OpenAIChatModel + ask_json
talk to it like to any other endpoint."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from engramdb.config import LLMConfig
from engramdb.errors import ConfigError, LLMError, LLMOutputError
from engramdb.llm import LLMStats, ask_json, create_chat_model
from engramdb.llm.model_files import packaged_model_path
from engramdb.llm.openai_compat import OpenAIChatModel

FACT_PROMPT = [
    {
        "role": "system",
        "content": "Extract the fact in the message as JSON: subject (the person), attribute "
        "(what the fact is about, e.g. job, pet, home city), value (e.g. nurse).",
    },
    {"role": "user", "content": "Maya: I started a new job as a nurse"},
]
GOOD = '{"subject": "Maya", "attribute": "job", "value": "nurse"}'


class Fact(BaseModel):
    subject: str
    attribute: str
    value: str


@dataclass
class Reply:
    status: int = 200
    content: str = GOOD
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Endpoint:
    url: str
    queue: deque[Reply] = field(default_factory=deque)
    respond: Callable[[dict[str, Any]], Reply] = lambda body: Reply()
    requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def config(self, **extra: Any) -> LLMConfig:
        options = {"provider": "openai", "base_url": self.url, "model": "test-model"}
        return LLMConfig(**{**options, "retries": 2, "backoff_s": 0.01, **extra})

    def formats(self) -> list[str | None]:
        return [(r["body"].get("response_format") or {}).get("type") for r in self.requests]


def _handler(endpoint: Endpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with endpoint.lock:
                endpoint.requests.append({"body": body, "headers": dict(self.headers)})
                reply = endpoint.queue.popleft() if endpoint.queue else endpoint.respond(body)
                endpoint.in_flight += 1
                endpoint.max_in_flight = max(endpoint.max_in_flight, endpoint.in_flight)
            try:
                time.sleep(reply.delay)
                self._send(reply)
            finally:
                with endpoint.lock:
                    endpoint.in_flight -= 1

        def _send(self, reply: Reply) -> None:
            if reply.status == 200:
                message = {"role": "assistant", "content": reply.content}
                payload: dict[str, Any] = {"choices": [{"index": 0, "message": message}]}
            else:
                payload = {"error": {"message": f"scripted {reply.status}", "type": "x"}}
            data = json.dumps(payload).encode()
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out leaves a broken pipe behind: expected here


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    ep = Endpoint(url="")
    server = _QuietServer(("127.0.0.1", 0), _handler(ep))
    ep.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield ep
    server.shutdown()
    server.server_close()


# --- transport: retries, backoff, no retry on client errors ---------------------------------
def test_retries_a_server_error_then_succeeds(endpoint: Endpoint) -> None:
    endpoint.queue.extend([Reply(500), Reply(content="hello")])
    stats = LLMStats()
    model = OpenAIChatModel(endpoint.config(api_key="sk-test", temperature=0.3), stats=stats)
    assert model.chat([{"role": "user", "content": "hi"}], max_tokens=7) == "hello"
    assert stats.retries == 1 and len(endpoint.requests) == 2
    first = endpoint.requests[0]
    assert first["headers"]["Authorization"] == "Bearer sk-test"
    assert first["body"]["model"] == "test-model"
    assert first["body"]["max_tokens"] == 7 and first["body"]["temperature"] == 0.3
    assert model.name == "openai:test-model"


def test_retries_429_honouring_retry_after(endpoint: Endpoint) -> None:
    endpoint.queue.extend([Reply(429, headers={"Retry-After": "0.3"}), Reply(content="ok")])
    stats = LLMStats()
    started = time.perf_counter()
    model = OpenAIChatModel(endpoint.config(), stats=stats)
    assert model.chat([{"role": "user", "content": "hi"}]) == "ok"
    assert time.perf_counter() - started >= 0.3
    assert stats.retries == 1


def test_retries_a_timeout(endpoint: Endpoint) -> None:
    endpoint.queue.extend([Reply(delay=1.0, content="late"), Reply(content="on time")])
    model = OpenAIChatModel(endpoint.config(timeout_s=0.3))
    assert model.chat([{"role": "user", "content": "hi"}]) == "on time"


def test_gives_up_after_the_configured_retries(endpoint: Endpoint) -> None:
    endpoint.respond = lambda body: Reply(503)
    stats = LLMStats()
    with pytest.raises(LLMError, match="3 attempts"):
        ask_json(OpenAIChatModel(endpoint.config(), stats=stats), FACT_PROMPT, Fact, stats=stats)
    assert len(endpoint.requests) == 3
    assert stats.as_dict() | {"seconds": 0} == {
        "calls": 1,
        "failures": 1,
        "retries": 2,
        "repaired": 0,
        "invalid": 0,
        "seconds": 0,
    }


def test_a_refused_connection_is_retried_then_raised() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = LLMConfig(
        provider="openai", base_url=f"http://127.0.0.1:{port}/v1", model="m", backoff_s=0
    )
    stats = LLMStats()
    with pytest.raises(LLMError, match="attempts"):
        OpenAIChatModel(config, stats=stats).chat([{"role": "user", "content": "hi"}])
    assert stats.retries == config.retries


def test_401_is_not_retried(endpoint: Endpoint) -> None:
    endpoint.respond = lambda body: Reply(401)
    stats = LLMStats()
    with pytest.raises(LLMError, match="401"):
        OpenAIChatModel(endpoint.config(), stats=stats).chat([{"role": "user", "content": "x"}])
    assert len(endpoint.requests) == 1 and stats.retries == 0


def test_needs_base_url_and_model() -> None:
    with pytest.raises(ConfigError, match="base_url and model"):
        create_chat_model(LLMConfig(provider="openai", model="m"))
    with pytest.raises(ConfigError, match="base_url and model"):
        create_chat_model(LLMConfig(provider="openai", base_url="http://127.0.0.1:9/v1"))


def test_limits_concurrent_requests(endpoint: Endpoint) -> None:
    endpoint.respond = lambda body: Reply(delay=0.15, content="ok")
    model = OpenAIChatModel(endpoint.config(max_concurrency=2))
    threads = [
        threading.Thread(target=model.chat, args=([{"role": "user", "content": "hi"}],))
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(endpoint.requests) == 6
    assert endpoint.max_in_flight == 2


# --- structured output: json_schema, then json_object, then none (auto mode) ----------------
def _refuse(*kinds: str) -> Callable[[dict[str, Any]], Reply]:
    def respond(body: dict[str, Any]) -> Reply:
        kind = (body.get("response_format") or {}).get("type")
        return Reply(400) if kind in kinds else Reply()

    return respond


def test_sends_a_strict_json_schema(endpoint: Endpoint) -> None:
    fact = ask_json(OpenAIChatModel(endpoint.config()), FACT_PROMPT, Fact, stats=LLMStats())
    assert fact == Fact(subject="Maya", attribute="job", value="nurse")
    spec = endpoint.requests[0]["body"]["response_format"]["json_schema"]
    assert spec["name"] == "output" and spec["strict"] is True
    assert spec["schema"]["additionalProperties"] is False
    assert spec["schema"]["required"] == ["subject", "attribute", "value"]


def test_auto_falls_back_to_json_object_and_remembers(endpoint: Endpoint) -> None:
    endpoint.respond = _refuse("json_schema")
    model = OpenAIChatModel(endpoint.config())
    stats = LLMStats()
    assert ask_json(model, FACT_PROMPT, Fact, stats=stats).value == "nurse"
    assert endpoint.formats() == ["json_schema", "json_object"]
    # the server does not know the schema now, so the prompt states it (and says JSON)
    system = endpoint.requests[1]["body"]["messages"][0]
    assert system["role"] == "system" and '"subject"' in system["content"]
    assert system["content"].startswith(FACT_PROMPT[0]["content"])
    ask_json(model, FACT_PROMPT, Fact, stats=stats)
    assert endpoint.formats() == ["json_schema", "json_object", "json_object"]
    assert stats.retries == 0  # a fallback is not a transport retry


def test_auto_falls_back_to_no_response_format(endpoint: Endpoint) -> None:
    endpoint.respond = _refuse("json_schema", "json_object")
    model = OpenAIChatModel(endpoint.config())
    ask_json(model, FACT_PROMPT[1:], Fact, stats=LLMStats())
    ask_json(model, FACT_PROMPT[1:], Fact, stats=LLMStats())
    assert endpoint.formats() == ["json_schema", "json_object", None, None]
    assert endpoint.requests[2]["body"]["messages"][0]["role"] == "system"


def test_a_fixed_mode_does_not_fall_back(endpoint: Endpoint) -> None:
    endpoint.respond = _refuse("json_schema")
    model = OpenAIChatModel(endpoint.config(structured_output="json_schema"))
    with pytest.raises(LLMError, match="400"):
        model.chat(FACT_PROMPT, schema=Fact.model_json_schema())
    assert endpoint.formats() == ["json_schema"]


# --- replies that are almost JSON, wrong, or never valid ------------------------------------
def test_almost_json_is_repaired(endpoint: Endpoint) -> None:
    endpoint.queue.append(
        Reply(content="```json\n{'subject': 'Maya', 'attribute': 'job', 'value': 'nurse',}\n```")
    )
    stats = LLMStats()
    fact = ask_json(OpenAIChatModel(endpoint.config()), FACT_PROMPT, Fact, stats=stats)
    assert fact.value == "nurse"
    assert (stats.calls, stats.repaired, stats.invalid) == (1, 1, 0)


def test_an_invalid_reply_is_asked_again_with_the_error(endpoint: Endpoint) -> None:
    endpoint.queue.extend([Reply(content='{"subject": "Maya"}'), Reply(content=GOOD)])
    stats = LLMStats()
    fact = ask_json(OpenAIChatModel(endpoint.config()), FACT_PROMPT, Fact, stats=stats)
    assert fact.attribute == "job"
    assert (stats.calls, stats.repaired, stats.invalid) == (2, 0, 0)
    reask = endpoint.requests[1]["body"]["messages"]
    assert reask[-2] == {"role": "assistant", "content": '{"subject": "Maya"}'}
    assert "attribute" in reask[-1]["content"] and "Field required" in reask[-1]["content"]


def test_a_reply_that_never_validates_raises_and_is_counted(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint.respond = lambda body: Reply(content="Maya is a nurse now.")
    stats = LLMStats()
    with (
        caplog.at_level(logging.WARNING, logger="engramdb.llm"),
        pytest.raises(LLMOutputError) as raised,
    ):
        ask_json(OpenAIChatModel(endpoint.config()), FACT_PROMPT, Fact, stats=stats)
    assert raised.value.reply == "Maya is a nurse now."
    assert (stats.calls, stats.invalid, stats.failures) == (2, 1, 0)
    assert "openai:test-model" in caplog.text and "Maya is a nurse now." in caplog.text


def test_without_reask_one_call_only(endpoint: Endpoint) -> None:
    endpoint.respond = lambda body: Reply(content="no")
    stats = LLMStats()
    with pytest.raises(LLMOutputError):
        ask_json(OpenAIChatModel(endpoint.config()), FACT_PROMPT, Fact, stats=stats, reask=False)
    assert (stats.calls, stats.invalid) == (1, 1)


# --- the packaged model behind `engram llm serve` --------------------------------------------
@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`engram llm serve` on a free loopback port with the packaged model and an API key."""
    model = packaged_model_path(LLMConfig().model_cache_dir)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    logs = tmp_path_factory.mktemp("serve")
    key = "test-key-0123456789"
    command = [sys.executable, "-m", "engramdb.cli.main", "llm", "serve", "--model-path"]
    command += [str(model), "--port", str(port), "--threads", "2", "--context-size", "2048"]
    env = {**os.environ, "ENGRAMDB_LLM_API_KEY": key}
    with (logs / "out").open("w") as out, (logs / "err").open("w") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_up(url, key, process, logs / "err")
        yield url, key
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert (logs / "out").read_text() == ""  # nothing on stdout: llama.cpp is silenced


def _wait_until_up(url: str, key: str, process: subprocess.Popen[bytes], err: Path) -> None:
    deadline = time.monotonic() + 90
    request = urllib.request.Request(f"{url}/models", headers={"Authorization": f"Bearer {key}"})
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"engram llm serve exited: {err.read_text()}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                card = json.load(response)["data"][0]
            assert card["id"] == "local:qwen2.5-coder-0.5b-instruct-q4"
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail("engram llm serve did not come up in 90 s")


def test_packaged_model_over_http(served: tuple[str, str]) -> None:
    url, key = served
    stats = LLMStats()
    config = LLMConfig(provider="openai", base_url=url, model="local", api_key=key)
    model = create_chat_model(config, stats=stats)
    fact = ask_json(model, FACT_PROMPT, Fact, stats=stats, max_tokens=96)
    assert "maya" in fact.subject.lower()
    assert "nurse" in f"{fact.attribute} {fact.value}".lower()
    assert stats.invalid == 0 and stats.retries == 0 and stats.failures == 0
    # the json_schema level worked: it was remembered, no fallback happened
    assert isinstance(model, OpenAIChatModel) and model._level == "json_schema"


def test_served_model_wants_the_key(served: tuple[str, str]) -> None:
    url, _ = served
    config = LLMConfig(provider="openai", base_url=url, model="local", api_key="wrong")
    with pytest.raises(LLMError, match="401"):
        create_chat_model(config).chat([{"role": "user", "content": "hi"}])


def _post(url: str, body: dict[str, Any], key: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"messages": []}, 400, "messages"),
        ({"messages": [{"role": "user", "content": "hi"}], "stream": True}, 400, "stream"),
        (
            {"messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "x"}},
            400,
            "response_format",
        ),
        ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, 400, "max_tokens"),
    ],
)
def test_served_endpoint_answers_bad_requests_like_openai(
    served: tuple[str, str], body: dict[str, Any], status: int, says: str
) -> None:
    url, key = served
    code, payload = _post(f"{url}/chat/completions", body, key)
    assert code == status
    assert says in payload["error"]["message"]
    assert payload["error"]["type"] == "invalid_request_error"
    code, payload = _post(f"{url}/chat/completions", body, None)
    assert code == 401 and payload["error"]["type"] == "authentication_error"
