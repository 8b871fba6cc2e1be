"""The check that a refused call raises the right error, with a message, and leaves every
table of the store as it was (the store: conftest's ``seeded``, messages of ``USER``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from stores import row_counts

from engramdb import Memory
from engramdb.errors import EngramError

USER = "victim"


def snapshot(path: str) -> dict[str, int]:
    """Row counts of every table, read straight from the store with its own driver."""
    return row_counts(path)


def assert_refused(
    seeded: tuple[Memory, str, list], call: Callable[[], Any], error: type[EngramError]
) -> EngramError:
    m, path, items = seeded
    before = snapshot(path)
    count = m.count(user_id=USER)
    with pytest.raises(error) as info:
        call()
    assert str(info.value).strip(), "the error must carry a message"
    assert snapshot(path) == before, "a refused call must write nothing"
    assert m.count(user_id=USER) == count
    for item in items:  # and change nothing
        assert m.get(item.id, user_id=USER) == item
    return info.value
