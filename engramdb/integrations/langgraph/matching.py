"""Filters, namespace patterns and similarity ranking, with the semantics of LangGraph's
``InMemoryStore`` (langgraph-checkpoint 4.x), so a graph sees the same results whichever
store it runs on. They are written out here rather than imported because LangGraph keeps
them private (``langgraph.store.memory._compare_values`` and friends)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from langgraph.store.base import MatchCondition

from engramdb.integrations.langgraph.records import Namespace, Record, Vector


def matches_filter(value: dict[str, Any], conditions: dict[str, Any] | None) -> bool:
    """Top-level keys of the value against the filter: equality, nested objects, lists, and
    the operators $eq, $ne, $gt, $gte, $lt, $lte."""
    if not conditions:
        return True
    return all(_compare(value.get(key), wanted) for key, wanted in conditions.items())


def _compare(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict):
        if any(k.startswith("$") for k in wanted):
            return all(_operator(actual, op, operand) for op, operand in wanted.items())
        if not isinstance(actual, dict):
            return False
        return all(_compare(actual.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, list | tuple):
        return (
            isinstance(actual, list | tuple)
            and len(actual) == len(wanted)
            and all(_compare(a, w) for a, w in zip(actual, wanted, strict=False))
        )
    return bool(actual == wanted)


def _operator(actual: Any, operator: str, operand: Any) -> bool:
    # numbers compare as floats, as InMemoryStore (and PostgreSQL's jsonb casts) do; a
    # missing or non-numeric field raises there too, so a caller sees the same error
    if operator == "$eq":
        return bool(actual == operand)
    if operator == "$ne":
        return bool(actual != operand)
    if operator == "$gt":
        return float(actual) > float(operand)
    if operator == "$gte":
        return float(actual) >= float(operand)
    if operator == "$lt":
        return float(actual) < float(operand)
    if operator == "$lte":
        return float(actual) <= float(operand)
    raise ValueError(f"Unsupported operator: {operator}")


def matches_condition(condition: MatchCondition, namespace: Namespace) -> bool:
    """A prefix or suffix pattern ("*" matches any one label) against a namespace."""
    path = condition.path
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        pairs = zip(namespace, path, strict=False)
    elif condition.match_type == "suffix":
        pairs = zip(reversed(namespace), reversed(path), strict=False)
    else:
        raise ValueError(f"Unsupported match type: {condition.match_type}")
    return all(p == "*" or n == p for n, p in pairs)


def _cosine(query: Vector, rows: Sequence[Vector]) -> list[float]:
    if not rows:
        return []
    matrix = np.asarray(rows, np.float64)
    q = np.asarray(query, np.float64)
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(q)
    scores = np.zeros(len(rows))
    mask = norms != 0  # a zero vector scores 0, as in InMemoryStore
    scores[mask] = (matrix[mask] @ q) / norms[mask]
    return [float(s) for s in scores]


def rank(
    query: Vector, candidates: Sequence[Record], offset: int, limit: int
) -> list[tuple[float | None, Record]]:
    """Order by the best cosine over each record's vectors (max pooling), then skip
    ``offset`` and keep ``limit``. Records without a comparable vector come last with no
    score, only to fill a page the scored ones leave short (InMemoryStore's corner case)."""
    flat_records: list[Record] = []
    flat_vectors: list[Vector] = []
    scoreless: list[Record] = []
    for record in candidates:
        usable = [v for v in record.vectors.values() if v.shape == query.shape]
        flat_records.extend(record for _ in usable)
        flat_vectors.extend(usable)
        if not usable:
            scoreless.append(record)
    # sorted() is stable: equal scores keep the listing order, as they do in InMemoryStore
    ordered = sorted(
        zip(_cosine(query, flat_vectors), flat_records, strict=True),
        key=lambda pair: pair[0],
        reverse=True,
    )
    seen: set[tuple[Namespace, str]] = set()
    kept: list[tuple[float | None, Record]] = []
    for score, record in ordered:
        identity = (record.namespace, record.key)
        if identity in seen:
            continue
        position = len(seen)
        seen.add(identity)
        if position >= offset + limit:
            break
        if position >= offset:
            kept.append((score, record))
    if scoreless and len(kept) < limit:
        kept.extend((None, record) for record in scoreless[: limit - len(kept)])
    return kept
