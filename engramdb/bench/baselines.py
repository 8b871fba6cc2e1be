"""Plain baselines computed beside engramdb in the same run: Okapi BM25 (k1=1.5, b=0.75, no
stemming), dense cosine over the same MiniLM vectors, and their reciprocal-rank fusion (k=60)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import numpy.typing as npt

from engramdb.encode.text import words


class BM25:
    def __init__(self, documents: list[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.docs = [Counter(words(d)) for d in documents]
        self.lengths = np.array([sum(d.values()) for d in self.docs], np.float64)
        self.avg = float(self.lengths.mean()) if len(self.docs) else 0.0
        df: Counter[str] = Counter()
        for doc in self.docs:
            df.update(doc.keys())
        n = len(self.docs)
        self.idf = {t: math.log((n - f + 0.5) / (f + 0.5) + 1) for t, f in df.items()}
        self.k1, self.b = k1, b

    def scores(self, query: str) -> npt.NDArray[np.float64]:
        out = np.zeros(len(self.docs))
        norm = self.k1 * (1 - self.b + self.b * self.lengths / (self.avg or 1))
        for term in set(words(query)):
            idf = self.idf.get(term)
            if idf is None:
                continue
            tf = np.array([d.get(term, 0) for d in self.docs], np.float64)
            out += idf * tf * (self.k1 + 1) / (tf + norm)
        return out


def rank(scores: npt.NDArray[np.float64]) -> list[int]:
    return [int(i) for i in np.argsort(-scores, kind="stable")]


def rrf(rankings: list[list[int]], k: int = 60) -> list[int]:
    fused: dict[int, float] = {}
    for ranking in rankings:
        for position, doc in enumerate(ranking):
            fused[doc] = fused.get(doc, 0.0) + 1.0 / (k + position + 1)
    return sorted(fused, key=lambda d: -fused[d])
