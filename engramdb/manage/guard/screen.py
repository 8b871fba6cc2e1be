"""Structure that addresses a model rather than a reader: hidden Unicode, chat-template tokens,
role markers, fake ends of data, tool-call syntax, hidden HTML, encoded blobs, links and images
that carry data to another host. Each detector names what it saw; none is a list of phrases
an attacker would use, they recognise the *form* those take (a Unicode category, a JSON object
with a call's keys, an image URL). ``directives.py`` reads the sentences themselves."""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from urllib.parse import urlsplit

_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A))
_TAGS = range(0xE0000, 0xE0080)
# how many invisible characters a text may hold before it hides something: one stray zero-width
# space is a copy-and-paste accident, three are a pattern
MAX_INVISIBLE = 2


def invisible(text: str) -> tuple[list[str], str]:
    """Findings about characters a reader cannot see, and the text without them (tag
    characters are read back as the ASCII they encode, so what they hide is screened too)."""
    found: list[str] = []
    tags = "".join(chr(ord(c) - 0xE0000) for c in text if ord(c) in _TAGS)
    if tags.strip():
        found.append("hidden text in Unicode tag characters")
    if any(ord(c) in _BIDI for c in text):
        found.append("bidirectional override characters")
    hidden = [
        i
        for i, c in enumerate(text)
        if unicodedata.category(c) == "Cf" and ord(c) not in _TAGS and not _joins(text, i)
    ]
    splits = sum(
        1
        for i in hidden
        if 0 < i < len(text) - 1 and text[i - 1].isalpha() and _next_visible(text, i).isalpha()
    )
    if len(hidden) > MAX_INVISIBLE or splits:
        found.append(f"{len(hidden)} zero-width or invisible characters")
    visible = "".join(c for c in text if unicodedata.category(c) != "Cf") + (
        f"\n{tags}" if tags else ""
    )
    return found, visible


def _joins(text: str, i: int) -> bool:
    """A zero-width joiner inside an emoji sequence, or a non-joiner between letters of a script
    that needs one (Persian, Indic): writing, not hiding."""
    c = text[i]
    before = text[i - 1] if i > 0 else ""
    after = text[i + 1] if i + 1 < len(text) else ""
    if c == "\u200d":
        return any(unicodedata.category(x) == "So" or x == "\ufe0f" for x in (before, after) if x)
    if c == "\u200c":
        return any(x and x.isalpha() and ord(x) > 0x5FF for x in (before, after))
    return c == "\u00ad"  # a soft hyphen is typography


def _next_visible(text: str, i: int) -> str:
    for c in text[i + 1 :]:
        if unicodedata.category(c) != "Cf":
            return c
    return ""


_TEMPLATE = re.compile(r"<\|[A-Za-z_]{2,32}\|>|\[/?INST\]|<</?SYS>>|</?s>|<\|?endoftext\|?>")
# roles of a chat transcript; not "model", "function" or "instructions": a car's model, a
# part's function and a recipe's instructions are written as "Model: …" too
_ROLES = r"system|assistant|developer|user|tool|ai|observation"
_ROLE_LINE = re.compile(
    rf"^[ \t>*_#\[(]*(?:{_ROLES})(?:[ _-]?(?:message|prompt|note|output|result|response|"
    rf"override|update))?[ \t*_\])]*:",
    re.IGNORECASE | re.MULTILINE,
)
_ROLE_HEADER = re.compile(
    rf"^[ \t]*(?:#{{1,6}}|\*\*|\[)[ \t]*(?:new |updated )?(?:{_ROLES})(?:[ _-]?(?:prompt|message|"
    rf"note|override|instructions?))?[ \t]*(?:\*\*|\])?[ \t]*$|\[(?:{_ROLES})(?: [a-z]+)?\]",
    re.IGNORECASE | re.MULTILINE,
)
_END = re.compile(
    r"(?:\bend of (?:the )?|</|\[/)(?:data|document|context|content|email|message|results?|"
    r"output|tool output|search results|page|memory|memories|input|untrusted|user input)\b"
    r"|^[ \t]*[-=*#_]{3,}[ \t]*end\b",
    re.IGNORECASE | re.MULTILINE,
)
_CALL_KEYS = {"tool_calls", "tool_call", "function_call", "tool_use"}
_CALL_PAIRS = (
    ("name", "arguments"),
    ("tool", "arguments"),
    ("tool", "args"),
    ("tool", "parameters"),
    ("tool", "input"),
    ("function", "arguments"),
    ("function", "parameters"),
    ("action", "action_input"),
    ("recipient_name", "parameters"),
)
_CALL_TAG = re.compile(r"</?(?:tool_call|function_call|invoke|tool_use)\b|<function=", re.I)
_COMMENT = re.compile(r"<!--(.*?)(?:-->|$)", re.DOTALL)
_HIDDEN_HTML = re.compile(
    r"<[a-z]+[^>]*(?:display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0|"
    r"\bhidden\b|aria-hidden)[^>]*>",
    re.IGNORECASE,
)
_B64 = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{20,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(r"\b(?:[0-9a-fA-F]{2}){16,}\b")
_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)")
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]+)")
_DATA_URL = re.compile(r"[?&#][^=&#]+=|\{|\}|%7B|\$\(|<|\|")


def structure(text: str) -> list[str]:
    """What in ``text`` (already without invisible characters) is shaped for a model."""
    found: list[str] = []
    if _TEMPLATE.search(text):
        found.append("chat-template token")
    if _ROLE_LINE.search(text) or _ROLE_HEADER.search(text):
        found.append("role marker")
    if any(len(text[m.end() :].split()) >= 3 for m in _END.finditer(text)):
        found.append("fake end of data")  # an end of the data with more text after it
    if _tool_call(text):
        found.append("tool-call syntax")
    comments = [c for c in _COMMENT.findall(text) if len(c.split()) >= 2]
    if comments or _HIDDEN_HTML.search(text):
        found.append("hidden HTML")
    if encoded(text):
        found.append("encoded text blob")
    found += _links(text)
    return found


def encoded(text: str) -> list[str]:
    """Text hidden in base64 or hex: long tokens that decode to readable text."""
    out: list[str] = []
    for token in _B64.findall(text):
        if not (re.search(r"[A-Z]", token) and re.search(r"[a-z]", token)):
            continue  # identifiers, hashes in one case: not base64 of text
        decoded = _readable(_b64(token))
        if decoded:
            out.append(decoded)
    for token in _HEX.findall(text):
        decoded = _readable(binascii.unhexlify(token))
        if decoded:
            out.append(decoded)
    return out


def _b64(token: str) -> bytes:
    padded = token + "=" * (-len(token) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            return decode(padded)
        except (binascii.Error, ValueError):
            continue
    return b""


def _readable(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    letters = sum(c.isalpha() or c == " " for c in text)
    if len(text) >= 12 and letters / len(text) >= 0.7 and " " in text.strip():
        return text
    return None


def _tool_call(text: str) -> bool:
    if _CALL_TAG.search(text):
        return True
    for start in [m.start() for m in re.finditer(r"\{", text)][:50]:
        try:
            value, _ = json.JSONDecoder().raw_decode(text[start:])
        except ValueError:
            continue
        if _is_call(value):
            return True
    return False


def _is_call(value: object) -> bool:
    if isinstance(value, list):
        return any(_is_call(v) for v in value[:20])
    if not isinstance(value, dict):
        return False
    keys = {str(k).lower() for k in value}
    if keys & _CALL_KEYS or any(a in keys and b in keys for a, b in _CALL_PAIRS):
        return True
    return any(_is_call(v) for v in list(value.values())[:20])


def _links(text: str) -> list[str]:
    found: list[str] = []
    for url in _IMAGE.findall(text):
        host = _host(url)
        if host:
            found.append(f"markdown image loaded from {host}")
    for url in _LINK.findall(text):
        host = _host(url)
        if host and _DATA_URL.search(url.split(host, 1)[-1]):
            found.append(f"link carrying data to {host}")
    return found


def _host(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return parts.hostname if parts.scheme in ("http", "https") and parts.hostname else None
