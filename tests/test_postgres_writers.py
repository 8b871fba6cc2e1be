"""Several writers on one PostgreSQL database: two real `engram serve` processes receive
concurrent adds and updates for the same user. Afterwards, checked in SQL: no duplicate from a
race (one row per content hash), no lost update (every update is a version and a history row),
and the derived rows (documents, BM25 statistics, counters) agree with the memories."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2 as httpx
from stores import pg_connect
from test_server_cli import free_port, wait_ready

ADMIN = "writers-admin-key-0123456789"
USER = "t::shared"  # user "shared" of tenant "t", as the service stores it
THREADS = 6


def serve(tmp_path: Path, config: Path, name: str) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    log = (tmp_path / f"{name}.log").open("wb")  # a file: a full pipe would stall the server
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engramdb.cli.main",
            "serve",
            "-c",
            str(config),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env={**os.environ, "ENGRAMDB_ADMIN_KEY": ADMIN},
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, process)  # type: ignore[arg-type]
    return url, process


def employer_timeline(dsn: str) -> list[tuple[str, Any, Any]]:
    """The racer's employer facts (end markers left out), oldest first."""
    with pg_connect(dsn) as conn:
        rows = conn.execute(
            b"SELECT value, valid_from, valid_to FROM memories WHERE user_id = 't::racer'"
            b" AND kind = 'fact' AND attribute = 'employer' AND fact_key NOT LIKE '%|~end'"
            b" ORDER BY valid_from, pk"
        ).fetchall()
    return [(str(r[0]), r[1], r[2]) for r in rows]


def consistency(dsn: str) -> dict[str, Any]:
    """Facts about the stored rows that must hold whatever the interleaving was."""
    with pg_connect(dsn) as conn:

        def one(sql: str, *args: Any) -> Any:
            row = conn.execute(sql.encode(), args).fetchone()
            return row[0] if row else None

        # the BM25 statistics, recomputed from the documents themselves
        recomputed = conn.execute(
            """SELECT g, lexeme, count(*) FROM (
                 SELECT 1 AS g, tsv, user_id FROM lex_turn UNION ALL
                 SELECT 2, tsv, user_id FROM lex_window UNION ALL
                 SELECT 3, tsv, user_id FROM lex_session) d,
               unnest(tsvector_to_array(d.tsv)) AS lexeme
               WHERE d.user_id = %s GROUP BY g, lexeme""",
            (USER,),
        ).fetchall()
        stored = conn.execute(
            "SELECT granularity, lexeme, df FROM lex_terms WHERE user_id = %s", (USER,)
        ).fetchall()
        return {
            "duplicate_hashes": one(
                "SELECT count(*) FROM (SELECT 1 FROM memories GROUP BY user_id, kind,"
                " content_hash HAVING count(*) > 1) x"
            ),
            "duplicate_seqs": one(
                "SELECT count(*) FROM (SELECT 1 FROM memories GROUP BY user_id, session_key,"
                " seq HAVING count(*) > 1) x"
            ),
            "memories": one("SELECT count(*) FROM memories WHERE user_id = %s", USER),
            "scope_rows": one("SELECT rows FROM scope_state WHERE user_id = %s", USER),
            "turn_docs": one("SELECT count(*) FROM lex_turn WHERE user_id = %s", USER),
            "window_docs": one("SELECT count(*) FROM lex_window WHERE user_id = %s", USER),
            "stats_docs": one(
                "SELECT docs FROM lex_stats WHERE user_id = %s AND granularity = 1", USER
            ),
            "segments": one("SELECT count(*) FROM session_docs WHERE user_id = %s", USER),
            "scope_segments": one("SELECT segments FROM scope_state WHERE user_id = %s", USER),
            "df_matches": sorted(map(tuple, recomputed)) == sorted(map(tuple, stored)),
        }


def test_two_serve_processes_share_one_database(tmp_path: Path, pg_target: str) -> None:
    config = tmp_path / "engram.yaml"
    # notes off: the counts below are of messages (the racer's employer facts are slot facts)
    config.write_text(
        f"store: '{pg_target}'\nembedder:\n  provider: static\nextraction:\n  notes: false\n"
    )
    servers = [serve(tmp_path, config, name) for name in ("a", "b")]
    try:
        (url_a, _), (url_b, _) = servers
        admin = {"Authorization": f"Bearer {ADMIN}"}
        body = {"tenant": "t", "rights": "write"}
        key = httpx.post(f"{url_a}/v1/keys", json=body, headers=admin).json()["key"]
        auth = {"Authorization": f"Bearer {key}"}
        # the key was made through A; B knows it at once (keys live in the shared database)
        assert httpx.get(f"{url_b}/v1/memories", params={"user_id": "shared"}, headers=auth)
        note = [{"id": "target", "content": "the shared note, version one"}]
        first = httpx.post(
            f"{url_b}/v1/memories",
            json={"messages": note, "user_id": "shared", "session_id": "s0"},
            headers=auth,
        ).json()["results"][0]

        same = [{"id": f"same{i}", "content": f"everyone sends note {i}"} for i in range(20)]
        errors: list[str] = []
        updates: list[str] = []
        lock = threading.Lock()

        def worker(n: int) -> None:
            with httpx.Client(headers=auth, timeout=60) as client:
                for round_ in range(4):
                    url = servers[(n + round_) % 2][0]
                    own = [
                        {"id": f"w{n}-{round_}-{i}", "content": f"worker {n} round {round_} {i}"}
                        for i in range(10)
                    ]
                    for messages, session in ((same, "s-same"), (own, f"s{n % 3}")):
                        response = client.post(
                            f"{url}/v1/memories",
                            json={"messages": messages, "user_id": "shared", "session_id": session},
                        )
                        if response.status_code != 200:
                            errors.append(response.text)
                    text = f"the shared note, edited by worker {n} in round {round_}"
                    response = client.put(
                        f"{url}/v1/memories/{first['id']}",
                        params={"user_id": "shared"},
                        json={"text": text, "reason": f"w{n}"},
                    )
                    if response.status_code == 200:
                        with lock:
                            updates.append(text)
                    else:
                        errors.append(response.text)
                    # contradicting facts about one person from both processes at once
                    step = n * 4 + round_
                    claim = {"content": f"I work at Company{step:02d} now.", "speaker": "Sam"}
                    response = client.post(
                        f"{url}/v1/memories",
                        json={
                            "messages": [{**claim, "id": f"job{step}"}],
                            "user_id": "racer",
                            "timestamp": f"2024-01-01T{step // 60:02d}:{step % 60:02d}:00Z",
                        },
                    )
                    if response.status_code != 200:
                        errors.append(response.text)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors[:3]

        history = httpx.get(
            f"{url_a}/v1/memories/{first['id']}/history", params={"user_id": "shared"},
            headers=auth,
        ).json()["results"]  # fmt: skip
        assert len(updates) == THREADS * 4
        # no lost update: each one is a version of its own, in order, with its text
        assert [h["version"] for h in history] == list(range(1, len(updates) + 2))
        assert Counter(h["text"] for h in history[1:]) == Counter(updates)
        for before, after in itertools.pairwise(history):
            assert after["previous_text"] == before["text"]
        final = httpx.get(
            f"{url_b}/v1/memories/{first['id']}", params={"user_id": "shared"}, headers=auth
        ).json()
        assert final["version"] == len(updates) + 1 and final["text"] == history[-1]["text"]
    finally:
        for _, process in servers:
            process.terminate()
        for _, process in servers:
            process.wait(timeout=30)

    employers = employer_timeline(pg_target)
    # one fact per claim, whatever process wrote it, chained in time with no overlap:
    # each closed exactly when the next began, and only the last one current
    assert [company for company, _, _ in employers] == [
        f"Company{step:02d}" for step in range(THREADS * 4)
    ]
    for (_, _, end), (_, start, _) in itertools.pairwise(employers):
        assert end == start
    assert employers[-1][2] is None

    facts = consistency(pg_target)
    expected = 1 + len(same) + THREADS * 4 * 10  # the shared note, the race batch, own notes
    assert facts["duplicate_hashes"] == 0 and facts["duplicate_seqs"] == 0
    assert facts["memories"] == expected
    assert facts["scope_rows"] == facts["turn_docs"] == facts["window_docs"] == expected
    assert facts["stats_docs"] == expected
    assert facts["segments"] == facts["scope_segments"]
    assert facts["df_matches"], "document frequencies drifted from the documents"
