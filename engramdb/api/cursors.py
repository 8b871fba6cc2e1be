"""List cursors of the API (``Memory.list_page``): the store pages by pk; a tenant is handed a
pk only enciphered, so a cursor says nothing of the store."""

from __future__ import annotations

import base64
import hmac

from engramdb.errors import InvalidInputError


class Cursors:
    """List cursors that say nothing of the store: a page's last pk, enciphered for its user
    (four Feistel rounds of HMAC-SHA256 under the store's secret), with a tag. Raw pks would
    show how much every other tenant wrote between two pages."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def _round(self, user_id: str, n: int, half: int) -> int:
        data = f"{user_id}\x00{n}\x00{half}".encode()
        return int.from_bytes(hmac.digest(self.secret, data, "sha256")[:4], "big")

    def make(self, user_id: str, pk: int) -> str:
        left, right = pk >> 32, pk & 0xFFFFFFFF
        for n in range(4):
            left, right = right, left ^ self._round(user_id, n, right)
        body = ((left << 32) | right).to_bytes(8, "big")
        tag = hmac.digest(self.secret, user_id.encode() + body, "sha256")[:4]
        return base64.urlsafe_b64encode(body + tag).decode().rstrip("=")

    def parse(self, user_id: str, cursor: str | None) -> int | None:
        """The pk a page continues after (None: the first page)."""
        if not cursor:
            return None
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (ValueError, TypeError):
            raw = b""
        body, tag = raw[:8], raw[8:]
        good = hmac.digest(self.secret, user_id.encode() + body, "sha256")[:4]
        if len(raw) != 12 or not hmac.compare_digest(tag, good):
            raise InvalidInputError("cursor is not one this store handed out for this user")
        value = int.from_bytes(body, "big")
        left, right = value >> 32, value & 0xFFFFFFFF
        for n in reversed(range(4)):
            left, right = right ^ self._round(user_id, n, left), left
        return (left << 32) | right
