"""`engram keys create | list | revoke` through the CLI, against a running `engram serve` of
the same store (a subprocess): a key made on the command line opens the service, a revoked one
stops at once; `engram serve` says where its UI is and how to make a key."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx2 as httpx
from cli_runner import engram, one_error_line
from test_server_cli import ADMIN, free_port, start, wait_ready


def test_keys_made_on_the_command_line_open_the_service(config: Path, tmp_path: Path) -> None:
    code, key, err = engram(config, "keys", "create", "--tenant", "acme")
    assert code == 0, err
    key = key.strip()
    assert key.startswith("egk_") and "shown only now" in err
    code, out, err = engram(config, "keys", "create", "--tenant", "acme", "-u", "bo", "--json")
    assert code == 0, err
    bound = json.loads(out)
    assert bound["user_id"] == "bo" and bound["rights"] == "write" and bound["key"]

    port = free_port()
    process = start(
        tmp_path, "--config", str(config), "--port", str(port), env={"ENGRAMDB_ADMIN_KEY": ADMIN}
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        headers = {"Authorization": f"Bearer {key}"}
        body = {"messages": [{"content": "Bo keeps bees"}], "user_id": "bo"}
        assert httpx.post(f"{url}/v1/memories", json=body, headers=headers).status_code == 200
        # the service's admin route sees the keys the CLI made, and the CLI lists them
        listed = httpx.get(f"{url}/v1/keys", headers={"Authorization": f"Bearer {ADMIN}"})
        ids = {k["key_id"] for k in listed.json()["results"]}
        code, out, _ = engram(config, "keys", "list", "--json")
        assert code == 0 and {k["key_id"] for k in json.loads(out)} == ids
        assert len(ids) == 2 and bound["key_id"] in ids
        code, table, _ = engram(config, "keys", "list", "--tenant", "acme")
        assert code == 0 and all(i in table for i in ids)

        first = next(i for i in ids if i != bound["key_id"])
        code, out, err = engram(config, "keys", "revoke", first)
        assert code == 0 and out.startswith(f"revoked {first} at "), err
        refused = httpx.get(f"{url}/v1/memories", params={"user_id": "bo"}, headers=headers)
        assert refused.status_code == 401  # at once, no restart
        code, out, _ = engram(config, "keys", "list", "--json")
        assert [k["revoked_at"] is not None for k in json.loads(out) if k["key_id"] == first] == [
            True
        ]
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
    # `engram serve` said where the UI is and how to make a key for it
    assert f"the web UI at {url}/" in output
    assert f"MCP at {url}/mcp" in output
    assert f"engram keys create --config {config}" in output


def test_key_mistakes_are_one_error_line(config: Path, tmp_path: Path) -> None:
    missing = tmp_path / "elsewhere.db"
    line = one_error_line(*engram(config, "keys", "list", "--store", str(missing))[::2])
    assert "no store at" in line
    assert engram(config, "keys", "create")[0] == 0  # makes the store if need be
    line = one_error_line(*engram(config, "keys", "revoke", "0123456789abcdef")[::2])
    assert "no API key with id '0123456789abcdef'" in line
    line = one_error_line(*engram(config, "keys", "create", "--rights", "admin")[::2])
    assert "--rights" in line
    line = one_error_line(*engram(config, "keys", "create", "--tenant", "no spaces")[::2])
    assert "tenant" in line
