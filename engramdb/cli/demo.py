"""``engram demo``: remember a short conversation offline, then answer questions from it."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from rich.table import Table

from engramdb.api.memory import Memory
from engramdb.cli.common import console

CONVERSATION = [
    (
        "S1",
        "2023-05-08T13:56:00",
        [
            (
                "Caroline",
                "Hey Mel! I went to the LGBTQ support group yesterday. It was so powerful.",
            ),
            ("Melanie", "That's wonderful, Caroline! I'm swamped with the kids and work lately."),
            (
                "Caroline",
                "The stories there inspired me. I want to study counseling and psychology.",
            ),
            ("Melanie", "You'd be great at that. I painted a lake sunrise last week, by the way."),
        ],
    ),
    (
        "S2",
        "2023-06-20T18:10:00",
        [
            (
                "Melanie",
                "We adopted a puppy named Biscuit on Saturday! The kids are over the moon.",
            ),
            ("Caroline", "Aww! I just moved to a new apartment in Boston, closer to the center."),
            ("Melanie", "Boston is lovely. Are you still going to the pottery class?"),
            ("Caroline", "Yes, every Thursday. I made a blue bowl for my mom's birthday."),
        ],
    ),
]
QUESTIONS = [
    "When did Caroline go to the support group?",
    "What does Caroline want to study?",
    "What is the name of Melanie's dog?",
    "Where does Caroline live now?",
    "What did Melanie paint?",
]


def run_demo(store: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = store or str(Path(tmp) / "demo.db")
        start = time.perf_counter()
        with Memory(path) as mem:
            console.print(f"[bold]engramdb demo[/bold] · store {path} · no network, no API key")
            for session, when, turns in CONVERSATION:
                messages = [
                    {"id": f"{session}:{i}", "speaker": who, "content": text}
                    for i, (who, text) in enumerate(turns, 1)
                ]
                mem.add(messages, user_id="demo-user", session_id=session, timestamp=when)
            mem.flush()  # the facts: the work queue draws them just after each add
            turns_kept = len(mem.list(user_id="demo-user", kind="episode", limit=1000))
            facts = len(mem.list(user_id="demo-user", kind="fact", limit=1000))
            console.print(f"remembered {turns_kept} messages and {facts} facts drawn from them")
            for question in QUESTIONS:
                hits = mem.search(question, user_id="demo-user", limit=2)
                table = Table(title=question, title_justify="left", show_header=False)
                for hit in hits:
                    day = hit.event_time.date().isoformat() if hit.event_time else ""
                    said = f"{hit.speaker}: {hit.text}" if hit.kind == "episode" else hit.text
                    table.add_row(f"{hit.score:.2f}", day, said)
                console.print(table)
        console.print(f"done in {time.perf_counter() - start:.1f} s")
