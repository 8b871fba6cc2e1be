"""One hit per message: a message and a claim drawn from it say the same thing, so an agent's
context should not spend two of its hits on them. Walking the ranking best first, a message is
left out when a claim drawn from it was taken, and a claim when its message was; the first of
the two stands for both (the message keeps its words, the claim its status and time). Two
claims of one message say different things and both stay."""

from __future__ import annotations

import numpy as np

from engramdb.retrieve.scope_index import IntArray, ScopeIndex


def one_per_message(
    index: ScopeIndex, positions: IntArray, order: IntArray, limit: int
) -> IntArray:
    """The first ``limit`` of ``order`` (indexes into ``positions``, best first), each message
    and the claims drawn from it counted once."""
    rows = positions[order]
    anchors = index.anchors(rows)  # a claim's message, -1 for a message
    said: set[int] = set()  # messages taken
    drawn: set[int] = set()  # messages a taken claim was drawn from
    kept: list[int] = []
    for i, row, anchor in zip(order.tolist(), rows.tolist(), anchors.tolist(), strict=True):
        if index.is_episode[row]:
            if row in drawn:
                continue
            said.add(row)
        elif anchor >= 0:
            if anchor in said:
                continue
            drawn.add(anchor)
        kept.append(i)
        if len(kept) == limit:
            break
    return np.array(kept, np.int64)
