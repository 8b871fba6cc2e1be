"""Secrets a memory should not keep: passwords stated as such, API keys and tokens, payment
card numbers (Luhn check), US social security numbers, IBANs (ISO 13616 mod-97 check).
``guard.secrets``: keep (counted only), redact (replaced before anything is stored or
embedded) or refuse (the add raises ``InvalidInputError`` and writes nothing)."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Secret:
    kind: str
    start: int
    end: int


_PASSWORD = re.compile(
    r"\b(?:password|passcode|passwd|pwd|passphrase|pin(?: code| number)?)\b(?: for [\w .-]{1,30}?)?"
    r"\s*(?:is|was|:|=|->)\s*[\"'`]?(?P<value>[^\s\"'`,;]{4,64})",
    re.IGNORECASE,
)
_KEY_PREFIXES = re.compile(
    r"\b(?:sk|pk|rk)[-_](?:live|test|proj)?[-_]?[A-Za-z0-9_-]{16,}"
    r"|\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{40,}"
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}|\bAKIA[0-9A-Z]{16}\b|\bAIza[0-9A-Za-z_-]{35}"
    r"|\bglpat-[A-Za-z0-9_-]{20,}|\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"
)
_NAMED_KEY = re.compile(
    r"\b(?:api[ _-]?key|access[ _-]?token|secret(?:[ _-]?key)?|auth[ _-]?token|bearer|"
    r"client[ _-]?secret|private[ _-]?key)\b\s*(?:is|:|=)?\s*[\"'`]?"
    r"(?P<value>[A-Za-z0-9_\-+/=.]{20,})",
    re.IGNORECASE,
)
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")


def find_secrets(text: str) -> list[Secret]:
    found: list[Secret] = []
    for m in _PASSWORD.finditer(text):
        value = m.group("value")
        if _looks_secret(value, pin=m.group(0).lower().startswith("pin")):
            found.append(Secret("password", m.start("value"), m.end("value")))
    for m in _KEY_PREFIXES.finditer(text):
        found.append(Secret("api key", m.start(), m.end()))
    for m in _NAMED_KEY.finditer(text):
        if _entropy(m.group("value")) >= 3.5:
            found.append(Secret("api key", m.start("value"), m.end("value")))
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 13 <= len(digits) <= 19 and _luhn(digits) and len(set(digits)) > 1:
            found.append(Secret("card number", m.start(), m.end()))
    for m in _SSN.finditer(text):
        found.append(Secret("national id", m.start(), m.end()))
    for m in _IBAN.finditer(text):
        if _iban_ok(m.group(0)):
            found.append(Secret("iban", m.start(), m.end()))
    return _disjoint(found)


def redact(text: str, secrets: list[Secret]) -> str:
    for s in sorted(secrets, key=lambda s: s.start, reverse=True):
        text = f"{text[: s.start]}[redacted {s.kind}]{text[s.end :]}"
    return text


def kinds(secrets: list[Secret]) -> Counter[str]:
    return Counter(s.kind for s in secrets)


def _looks_secret(value: str, *, pin: bool) -> bool:
    """A password is a token, not a word of a sentence: "my password is P4ss!word" but not
    "the password is long"; a PIN is 4-8 digits."""
    if pin:
        return value.isdigit() and 4 <= len(value) <= 8
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]"))
    return len(value) >= 6 and classes >= 2 and not value.rstrip(".!?").isalpha()


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _luhn(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _iban_ok(raw: str) -> bool:
    iban = raw.replace(" ", "")
    if not 15 <= len(iban) <= 34:
        return False
    moved = iban[4:] + iban[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


def _disjoint(found: list[Secret]) -> list[Secret]:
    out: list[Secret] = []
    for s in sorted(found, key=lambda s: (s.start, -(s.end - s.start))):
        if not out or s.start >= out[-1].end:
            out.append(s)
    return out
