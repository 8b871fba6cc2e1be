"""Drop-in layers: other memory libraries' APIs on engramdb (``engramdb.compat.mem0``)."""
