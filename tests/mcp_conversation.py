"""A realistic store for measuring what MCP tools cost an agent's context: a month of one
user's chat, messages of everyday length, with the facts the rules extract from them."""

from __future__ import annotations

from typing import Any

CONVERSATION: list[tuple[str, str, str]] = [
    (
        "2024-03-02T09:14:00Z",
        "Maya",
        (
            "I just moved to Lisbon for a new job at a fintech startup called "
            "Tilde, and the apartment is near Alfama."
        ),
    ),
    (
        "2024-03-02T09:15:00Z",
        "assistant",
        (
            "Congratulations on the move! Alfama is lovely. How are you finding the"
            " neighbourhood so far?"
        ),
    ),
    (
        "2024-03-02T09:17:00Z",
        "Maya",
        (
            "It's hilly and loud at night, but I love the tiled buildings and the "
            "view of the river from my balcony."
        ),
    ),
    (
        "2024-03-03T18:40:00Z",
        "Maya",
        ("My sister Ines lives in Porto, so I'm hoping to visit her by train once I settle in."),
    ),
    (
        "2024-03-04T07:55:00Z",
        "Maya",
        (
            "I've started running along the river in the mornings, about five "
            "kilometres before work."
        ),
    ),
    (
        "2024-03-05T20:02:00Z",
        "Maya",
        (
            "I'm allergic to peanuts, so I always have to check the pastries at the"
            " bakery downstairs."
        ),
    ),
    (
        "2024-03-06T12:30:00Z",
        "Maya",
        (
            "My manager at Tilde is called Rui; he wants me to lead the payments "
            "reconciliation project."
        ),
    ),
    (
        "2024-03-07T21:11:00Z",
        "Maya",
        ("I adopted a grey cat named Pixel from the shelter in Graça this weekend."),
    ),
    (
        "2024-03-08T08:45:00Z",
        "Maya",
        ("Pixel keeps knocking my coffee off the desk during my morning stand-up calls."),
    ),
    (
        "2024-03-09T16:20:00Z",
        "Maya",
        (
            "I'm learning Portuguese with a tutor twice a week; my goal is to order"
            " dinner without switching to English."
        ),
    ),
    (
        "2024-03-10T10:05:00Z",
        "Maya",
        ("My favourite food here so far is grilled sardines with a glass of vinho verde."),
    ),
    (
        "2024-03-11T19:30:00Z",
        "Maya",
        (
            "I play the cello and I'm looking for a community orchestra in Lisbon "
            "that rehearses on weekends."
        ),
    ),
    (
        "2024-03-12T13:00:00Z",
        "Maya",
        (
            "Rui moved the reconciliation deadline to the end of April, which gives"
            " me some breathing room."
        ),
    ),
    (
        "2024-03-13T22:15:00Z",
        "Maya",
        ("I had a video call with my parents in Toronto; they want to visit in June."),
    ),
    (
        "2024-03-14T07:40:00Z",
        "Maya",
        ("I signed up for the Lisbon half marathon in October, so I need a proper training plan."),
    ),
    (
        "2024-03-15T18:10:00Z",
        "Maya",
        ("My best friend Sam is a nurse in Vancouver and just started night shifts again."),
    ),
    (
        "2024-03-16T11:25:00Z",
        "Maya",
        ("I bought a second-hand bike, a blue Brompton, to get around the flat parts of the city."),
    ),
    (
        "2024-03-17T15:50:00Z",
        "Maya",
        ("I'm vegetarian on weekdays but I eat fish at the weekend when I go out with colleagues."),
    ),
    (
        "2024-03-18T09:05:00Z",
        "Maya",
        ("The payments project uses Python and Postgres; I suggested we add property-based tests."),
    ),
    (
        "2024-03-19T20:40:00Z",
        "Maya",
        ("I found an orchestra! The Orquestra Amadora rehearses on Saturday mornings in Belém."),
    ),
    (
        "2024-03-20T08:00:00Z",
        "Maya",
        (
            "My birthday is on the 2nd of May and I want to celebrate with a picnic"
            " in Monsanto park."
        ),
    ),
    (
        "2024-03-21T17:35:00Z",
        "Maya",
        ("Ines is expecting her first baby in August, so I'll be an aunt for the first time."),
    ),
    (
        "2024-03-22T12:12:00Z",
        "Maya",
        ("I switched my phone plan to a local carrier because roaming was costing a fortune."),
    ),
    (
        "2024-03-23T19:45:00Z",
        "Maya",
        ("Pixel has a vet appointment next Thursday for her vaccinations."),
    ),
    (
        "2024-03-24T10:30:00Z",
        "Maya",
        (
            "I'm reading 'The Book of Disquiet' by Pessoa in a bilingual edition to"
            " practise Portuguese."
        ),
    ),
    (
        "2024-03-25T21:00:00Z",
        "Maya",
        (
            "I now work at Tilde's new office in Cais do Sodré, which is a ten-"
            "minute bike ride from home."
        ),
    ),
    (
        "2024-03-26T07:20:00Z",
        "Maya",
        ("My running pace improved to five minutes thirty per kilometre this week."),
    ),
    (
        "2024-03-27T14:55:00Z",
        "Maya",
        ("I'm thinking about getting a standing desk because my back hurts after long calls."),
    ),
    (
        "2024-03-28T18:25:00Z",
        "Maya",
        ("My parents booked flights to Lisbon for the 14th of June; they'll stay for two weeks."),
    ),
    (
        "2024-03-29T11:40:00Z",
        "Maya",
        ("I don't drink coffee after noon anymore; it was ruining my sleep."),
    ),
]


def messages() -> list[dict[str, Any]]:
    """The conversation as messages (one a batch keeps each its own timestamp)."""
    return [
        {
            "content": text,
            "speaker": who,
            "role": "assistant" if who == "assistant" else "user",
            "timestamp": when,
        }
        for when, who, text in CONVERSATION
    ]
