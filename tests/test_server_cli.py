"""`engram serve` as a process: config file + flags, admin key from the environment, JSON logs,
and a graceful shutdown (SIGTERM) that finishes the write in flight."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
from service_helpers import STATIC

from engramdb import Memory

ADMIN = "test-admin-key-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "engramdb.cli.main", "serve", *extra],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )


def wait_ready(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("engram serve did not become ready")


def test_serve_without_an_admin_key_serves_with_the_key_routes_off(tmp_path: Path) -> None:
    """A newcomer's `engram serve` starts: keys come from `engram keys create` on the store;
    /v1/keys answers no one; a too-short admin key is still refused, in one line."""

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "ENGRAMDB_ADMIN_KEY"}
    config = tmp_path / "static.yaml"
    config.write_text(f"store: {tmp_path / 'm.db'}\nembedder:\n  provider: static\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "engramdb.cli.main", "serve", "--config", str(config), "--port",
         str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        wait_ready(url, process)
        refused = httpx.post(
            f"{url}/v1/keys", json={"tenant": "t"}, headers={"Authorization": "Bearer " + "x" * 20}
        )
        assert refused.status_code in (401, 403)
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
    assert "the /v1/keys routes are off" in output and "engram keys create" in output
    short = subprocess.run(
        [sys.executable, "-m", "engramdb.cli.main", "serve", "--store", str(tmp_path / "m.db")],
        env={**env, "ENGRAMDB_ADMIN_KEY": "short"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert short.returncode != 0
    assert "at least 16 characters" in short.stderr and "Traceback" not in short.stderr


def test_serve_process_config_logs_and_graceful_shutdown(tmp_path: Path) -> None:
    port = free_port()
    store = tmp_path / "memory.db"
    config = tmp_path / "engram.yaml"
    config.write_text(  # notes off: one row per message, as counted at the end
        f"store: {store}\nembedder:\n  provider: static\nextraction:\n  notes: false\n"
        "server:\n  port: 1\n  workers: 2\n"
    )
    url = f"http://127.0.0.1:{port}"
    process = start(
        tmp_path, "--config", str(config), "--port", str(port), env={"ENGRAMDB_ADMIN_KEY": ADMIN}
    )
    try:
        wait_ready(url, process)
        admin = {"Authorization": f"Bearer {ADMIN}"}
        key = httpx.post(f"{url}/v1/keys", json={"tenant": "t"}, headers=admin).json()
        assert key["rights"] == "read"
        key = httpx.post(
            f"{url}/v1/keys", json={"tenant": "t", "rights": "write"}, headers=admin
        ).json()["key"]
        batch = [
            {
                "content": f"message number {i} about hiking "
                + "and the weather in the mountains " * 8
            }
            for i in range(1000)
        ]
        outcome: dict[str, Any] = {}

        def write() -> None:
            outcome["response"] = httpx.post(
                f"{url}/v1/memories",
                json={"messages": batch, "user_id": "u"},
                headers={"Authorization": f"Bearer {key}"},
                timeout=60,
            )
            outcome["done"] = time.monotonic()

        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(0.3)  # the request is in flight
        process.send_signal(signal.SIGTERM)
        terminated = time.monotonic()
        writer.join(timeout=60)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert outcome["response"].status_code == 200
    assert terminated < outcome["done"], "the write had finished before SIGTERM"
    assert len(outcome["response"].json()["results"]) == 1000
    # uvicorn re-raises SIGTERM once it has shut down cleanly, so the status is the signal's
    assert process.returncode in (0, -signal.SIGTERM)
    logs = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert len(logs) >= 5 and all({"ts", "level", "logger", "msg"} <= set(e) for e in logs)
    writes = [e for e in logs if e.get("path") == "/v1/memories"]
    assert writes and writes[0]["status"] == 200 and writes[0]["caller"].startswith("t/")
    assert any(e["msg"] == "Application shutdown complete." for e in logs)
    assert "Traceback" not in output
    with Memory(store, embedder=STATIC) as memory:  # the acknowledged write is all there
        assert memory.count(user_id="t::u") == 1000


def serve_briefly(tmp_path: Path, *flags: str, env: dict[str, str] | None = None) -> str:
    """Start `engram serve`, check ADMIN may create a key, stop it; return what it printed."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    base = {k: v for k, v in os.environ.items() if k != "ENGRAMDB_ADMIN_KEY"}
    config = tmp_path / "static.yaml"  # the fast embedder: nothing to derive at start
    config.write_text(f"store: {tmp_path / 'memory.db'}\nembedder:\n  provider: static\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "engramdb.cli.main", "serve", "--config", str(config), "--port",
         str(port), *flags],
        env={**base, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        wait_ready(url, process)
        created = httpx.post(
            f"{url}/v1/keys", json={"tenant": "t"}, headers={"Authorization": f"Bearer {ADMIN}"}
        )
        assert created.status_code == 201, created.text
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    return output


def test_admin_key_from_a_file_or_the_environment_is_not_on_the_command_line(
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "admin.key"
    key_file.write_text(ADMIN + "\n")
    output = serve_briefly(tmp_path, "--admin-key-file", str(key_file))
    assert "--admin-key" not in output and ADMIN not in output
    output = serve_briefly(tmp_path, env={"ENGRAMDB_ADMIN_KEY": ADMIN})
    assert "--admin-key" not in output


def test_admin_key_on_the_command_line_works_with_a_warning(tmp_path: Path) -> None:
    output = serve_briefly(tmp_path, "--admin-key", ADMIN)
    assert "warning: --admin-key on the command line is visible" in output


def test_admin_key_file_errors_are_one_line(tmp_path: Path) -> None:
    binary = tmp_path / "binary.key"
    binary.write_bytes(b"\xff\xfe\x00")
    for flags in (
        ["--admin-key-file", str(tmp_path / "missing.key")],
        ["--admin-key-file", str(binary)],
        ["--admin-key-file", str(binary), "--admin-key", ADMIN],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "engramdb.cli.main", "serve", "--store",
             str(tmp_path / "m.db"), *flags],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode != 0
        assert result.stderr.startswith("error:") and "Traceback" not in result.stderr, flags
