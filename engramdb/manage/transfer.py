"""Move a store's data between backends: ``engram export`` / ``engram import --format engram``.

The format is JSON Lines, streamed in both directions (memory use does not grow with the store,
except the set of imported ids kept for the final check):

- a header ``{"type": "header", "format": "engramdb-export", "version": 1, "embedder": …}``;
- one ``{"type": "memory", …}`` line per memory: every stored field, the float32 embedding
  (base64, little endian), its sequence number in the session and its whole history;
- one ``{"type": "history", "memory_id", "user_id", "history"}`` line per deleted memory whose
  history is kept;
- a trailer ``{"type": "end", "memories": n, "histories": m, "digest": …}``.

The digest is the sum modulo 2^256 of the SHA-256 of each memory and history line (canonical
JSON): it does not depend on order, so the importer checks the file against its trailer and the
target store against the file by reading the imported rows back and encoding them the same way.

Import writes batches, one transaction per user and batch, skips records already present (same
id, or same user/kind/content hash: re-running adds nothing twice) and records the line it has
reached in a checkpoint file, so an interrupted import resumes where it stopped.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from engramdb.errors import InvalidInputError, StoreError
from engramdb.store.engine import MemoryStore
from engramdb.store.record import EXPORT_DEFAULTS, EXPORTED
from engramdb.store.transfer import Record, TransferRows

FORMAT = "engramdb-export"
VERSION = 1
BATCH = 500
Progress = Callable[[str, int, int], None]
# a memory record's fields left out of the file where they hold these values (fields added
# after the first export format: old files and new ones give the same lines and digests)
DEFAULTS: dict[str, Any] = {
    **EXPORT_DEFAULTS,
    "anchor": None,
    "links": [],
    "linked_from": [],
    "entities": [],
}
TIMES = {c.name for c in EXPORTED if c.codec == "time"}  # ISO 8601 in UTC in the file


@dataclass
class Summary:
    memories: int = 0
    histories: int = 0
    digest: str = ""
    written: int = 0
    present: int = 0
    target_digest: str = ""

    @property
    def verified(self) -> bool:
        return bool(self.digest) and self.digest == self.target_digest


def encode(record: Record, kind: str) -> str:
    """One canonical JSON line (sorted keys, compact): the same record always gives the same
    bytes, whichever store it was read from."""
    data = {**record, "type": kind}
    if "embedding" in data:
        vector = np.asarray(data["embedding"], dtype="<f4")
        data["embedding"] = base64.b64encode(vector.tobytes()).decode("ascii")
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def to_file(record: Record) -> Record:
    """A memory record as the file holds it: times as text, the session key only where it is
    not the session id's, fields at their defaults left out."""
    out = {key: _iso(value) if key in TIMES else value for key, value in record.items()}
    out["history"] = _history_times(record["history"], _iso)
    if out["session_key"] == (out["session_id"] or ""):
        del out["session_key"]
    for key, default in DEFAULTS.items():
        if out[key] == default and type(out[key]) is type(default):
            del out[key]
    return out


def from_file(record: Record) -> Record:
    """A memory record of a file as the store writes it: every field, times parsed."""
    out = {**DEFAULTS, "session_key": record["session_id"] or "", **record}
    for key in TIMES & out.keys():
        out[key] = _when(out[key])
    out["history"] = _history_times(record["history"], _when)
    return out


def _history_times(entries: list[Record], convert: Callable[[Any], Any]) -> list[Record]:
    return [{**entry, "at": convert(entry["at"])} for entry in entries]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def decode_embedding(value: str) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.frombuffer(base64.b64decode(value), dtype="<f4").astype(np.float32)


VOLATILE = ("uses", "last_used_at")  # searches change these; they say nothing of content


def stable(line: str) -> str:
    """A record line without its use counts, for comparing a file with a live store."""
    record = json.loads(line)
    if not any(key in record for key in VOLATILE):
        return line
    for key in VOLATILE:
        record.pop(key, None)
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class Digest:
    def __init__(self) -> None:
        self.value = 0

    def add(self, line: str) -> None:
        h = int.from_bytes(hashlib.sha256(line.encode("utf-8", "surrogatepass")).digest(), "big")
        self.value = (self.value + h) % (1 << 256)

    def hex(self) -> str:
        return f"{self.value:064x}"


def _lines(rows: TransferRows, batch: int) -> Iterator[tuple[str, str]]:
    """(type, line) of every memory and history record of a store, streamed page by page."""
    after = 0
    while page := rows.memories(after, batch):
        for pk, record in page:
            yield "memory", encode(to_file(record), "memory")
            after = pk
    last = ""
    while orphans := rows.orphans(last, batch):
        for record in orphans:
            history = _history_times(record["history"], _iso)
            yield "history", encode({**record, "history": history}, "history")
            last = record["memory_id"]


def export(
    store: MemoryStore, out: TextIO, *, batch: int = BATCH, progress: Progress | None = None
) -> Summary:
    rows = store.transfer_rows()
    header = {
        "type": "header",
        "format": FORMAT,
        "version": VERSION,
        "embedder": rows.embedder(),
        "exported_at": datetime.now(UTC).isoformat(),
    }
    out.write(json.dumps(header) + "\n")
    summary, digest, total = Summary(), Digest(), store.count()
    for kind, line in _lines(rows, batch):
        out.write(line + "\n")
        digest.add(line)
        if kind == "memory":
            summary.memories += 1
        else:
            summary.histories += 1
        if progress:
            progress("export", summary.memories, total)
    summary.digest = summary.target_digest = digest.hex()
    trailer = {"type": "end", "memories": summary.memories, "histories": summary.histories}
    out.write(json.dumps({**trailer, "digest": summary.digest}) + "\n")
    return summary


def import_file(
    store: MemoryStore,
    path: Path,
    *,
    checkpoint: Path | None = None,
    batch: int = BATCH,
    progress: Progress | None = None,
) -> Summary:
    rows = store.transfer_rows()
    checkpoint = checkpoint or path.with_name(path.name + ".checkpoint")
    _check_file(path)  # a damaged or truncated file writes nothing
    with path.open(encoding="utf-8") as handle:
        header = _header(handle.readline(), path)
        embedder = header.get("embedder")
        if embedder:
            store.check_embedder(str(embedder["name"]), int(embedder["dim"]))
        resume = _resume_line(checkpoint, header, path)
        summary, digest, content, ids = Summary(), Digest(), Digest(), set()
        pending: list[Record] = []
        orphans: list[Record] = []
        trailer: dict[str, Any] | None = None
        for number, line in enumerate(handle, start=2):
            text = line.rstrip("\n")
            if not text:
                continue
            record = _parse(text, path, number)
            kind = record.pop("type", None)
            if kind == "end":
                trailer = record
                break
            digest.add(text)
            content.add(stable(text))
            if kind == "memory":
                summary.memories += 1
                ids.add(record["id"])
                record["embedding"] = decode_embedding(record["embedding"])
                if number > resume:
                    pending.append(from_file(record))
            elif kind == "history":
                summary.histories += 1
                ids.add(record["memory_id"])
                if number > resume:
                    history = _history_times(record["history"], _when)
                    orphans.append({**record, "history": history})
            else:
                raise InvalidInputError(f"{path}:{number}: unknown record type {kind!r}")
            if len(pending) + len(orphans) >= batch:
                _flush(rows, pending, orphans, summary)
                _save_checkpoint(checkpoint, header, path, number)
            if progress:
                progress("import", summary.memories, 0)
        _flush(rows, pending, orphans, summary)
    if trailer is None:
        raise InvalidInputError(f"{path} ends early (no trailer): the export was cut short")
    summary.digest = digest.hex()
    if (trailer.get("memories"), trailer.get("histories"), trailer.get("digest")) != (
        summary.memories,
        summary.histories,
        summary.digest,
    ):
        raise InvalidInputError(f"{path} does not match its own trailer: the file is damaged")
    summary.digest = content.hex()  # compared with the target: use counts left out
    summary.target_digest = _target_digest(rows, ids, batch)
    if checkpoint.exists():
        checkpoint.unlink()
    return summary


def _check_file(path: Path) -> None:
    """Read the whole file once: its records must match the trailer's counts and digest."""
    counts, digest, trailer = {"memory": 0, "history": 0}, Digest(), None
    with path.open(encoding="utf-8") as handle:
        _header(handle.readline(), path)
        for number, line in enumerate(handle, start=2):
            text = line.rstrip("\n")
            if not text:
                continue
            kind = _parse(text, path, number).get("type")
            if trailer is not None:
                raise InvalidInputError(f"{path}:{number}: records after the trailer")
            if kind == "end":
                trailer = _parse(text, path, number)
                continue
            if kind not in counts:
                raise InvalidInputError(f"{path}:{number}: unknown record type {kind!r}")
            counts[str(kind)] += 1
            digest.add(text)
    if trailer is None:
        raise InvalidInputError(f"{path} ends early (no trailer): the export was cut short")
    found = (counts["memory"], counts["history"], digest.hex())
    if (trailer.get("memories"), trailer.get("histories"), trailer.get("digest")) != found:
        raise InvalidInputError(f"{path} does not match its own trailer: the file is damaged")


def _flush(
    rows: TransferRows, pending: list[Record], orphans: list[Record], summary: Summary
) -> None:
    if pending:
        present = rows.present(pending)
        summary.present += len(present)
        by_user: dict[str, list[Record]] = {}
        for record in pending:
            if record["id"] not in present:
                by_user.setdefault(record["user_id"], []).append(record)
        for user_id, records in by_user.items():
            rows.write(user_id, records)
            summary.written += len(records)
    if orphans:
        summary.written += rows.write_orphans(orphans)
    pending.clear()
    orphans.clear()


def _target_digest(rows: TransferRows, ids: set[str], batch: int) -> str:
    """The digest of the imported records as the target store now holds them."""
    digest = Digest()
    for kind, line in _lines(rows, batch):
        record = json.loads(line)
        if record["id" if kind == "memory" else "memory_id"] in ids:
            digest.add(stable(line))
    return digest.hex()


def _header(line: str, path: Path) -> dict[str, Any]:
    header = _parse(line, path, 1) if line.strip() else {}
    if header.get("type") != "header" or header.get("format") != FORMAT:
        raise InvalidInputError(f"{path} is not an engramdb export (no {FORMAT} header)")
    if header.get("version") != VERSION:
        raise InvalidInputError(f"{path} is export version {header.get('version')}; expected 1")
    return header


def _parse(text: str, path: Path, number: int) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidInputError(f"{path}:{number}: not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise InvalidInputError(f"{path}:{number}: each line must be a JSON object")
    return value


def _identity(header: dict[str, Any], path: Path) -> dict[str, Any]:
    return {"exported_at": header.get("exported_at"), "size": path.stat().st_size}


def _resume_line(checkpoint: Path, header: dict[str, Any], path: Path) -> int:
    """The last line already imported from this very file (0: none)."""
    try:
        state = json.loads(checkpoint.read_text())
    except (OSError, ValueError):
        return 0
    if not isinstance(state, dict) or state.get("file") != _identity(header, path):
        return 0
    return int(state.get("line", 0))


def _save_checkpoint(checkpoint: Path, header: dict[str, Any], path: Path, line: int) -> None:
    tmp = checkpoint.with_name(checkpoint.name + ".tmp")
    try:
        tmp.write_text(json.dumps({"file": _identity(header, path), "line": line}))
        os.replace(tmp, checkpoint)
    except OSError as exc:
        raise StoreError(f"cannot write the checkpoint {checkpoint}: {exc.strerror}") from exc
