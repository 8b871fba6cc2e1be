"""The web UI's views in a real browser (Debian's Chromium driven by Playwright), over a real
server: the profile panel, the entities view, the kind / status / as-of filters, superseded
memories marked with what replaced them, a fact's sources with their text, and the favicon.
Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from service_helpers import LiveServer
from ui_browser import ARGS, CHROMIUM, SHOTS, needs_chromium

pytestmark = needs_chromium

# a correction: Caroline lived in Lisbon, then moved to Porto
CONVERSATION = [
    ("2023-05-07T14:00:00Z", "I live in Lisbon with my sister Ana"),
    ("2023-05-08T09:30:00Z", "I work at Acme as a designer"),
    ("2023-07-01T10:00:00Z", "I moved to Porto"),
]
HOSTILE = '<img src=x onerror="window.pwned=1"> I adore <b>jazz</b>'
WHERE = "where does Caroline live"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("ui-views") / "memory.db").start()
    key = live.new_key("views-tenant", "write")
    with live.client(key) as api:
        for stamp, text in [*CONVERSATION, ("2023-07-02T08:00:00Z", HOSTILE)]:
            body = {
                "messages": [{"content": text, "speaker": "Caroline", "role": "user"}],
                "user_id": "caroline",
                "timestamp": stamp,
            }
            assert api.post("/v1/memories", json=body).status_code == 200
    live.ui_key = key  # type: ignore[attr-defined]
    yield live
    live.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(server: LiveServer, browser: Any) -> Iterator[Any]:
    """A signed-in page on Caroline's memories; fails the test on any script error."""
    from playwright.sync_api import expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(10_000)
    page.goto(server.url + "/")
    page.get_by_label("API key").fill(server.ui_key)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_label("User", exact=True)).to_have_value("caroline")
    expect(page.locator("article.memory").first).to_be_visible()
    yield page
    assert page.evaluate("window.pwned") is None, "memory text was parsed as HTML"
    context.close()
    assert not errors, errors


def search(page: Any, query: str) -> None:
    from playwright.sync_api import expect

    page.get_by_label("Search this user's memories").fill(query)
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#results-title")).to_contain_text(query)


def test_profile_shows_current_facts_with_date_and_source_text(page: Any) -> None:
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Profile").click()
    expect(page.get_by_role("tabpanel", name="Profile")).to_be_visible()
    expect(page.locator("#panel-memories")).to_be_hidden()
    facts = page.locator("li.profile-fact")
    home = facts.filter(has_text="Caroline lives in Porto")
    expect(home).to_have_count(1)
    expect(home.locator(".since time")).to_have_attribute("datetime", "2023-07-01T10:00:00Z")
    expect(home.locator(".since")).to_contain_text("2023")
    expect(home.locator(".source")).to_contain_text("Caroline: I moved to Porto")
    expect(facts.filter(has_text="works at Acme").locator(".source")).to_contain_text(
        "I work at Acme as a designer"
    )
    expect(facts.filter(has_text="Lisbon")).to_have_count(0)  # superseded: not current
    page.locator("details.prompt summary").click()
    expect(page.locator("details.prompt pre")).to_contain_text('"Caroline lives in Porto (home)"')
    page.screenshot(path=str(SHOTS / "10-profile.png"), full_page=True)


def test_entities_lists_people_places_facts_and_links(page: Any) -> None:
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Entities").click()
    people = page.get_by_role("region", name="People")
    caroline = people.get_by_role("article", name="person: Caroline")
    expect(caroline).to_be_visible()
    expect(page.locator("#entities-body")).not_to_contain_text("null")
    facts = caroline.locator("li.entity-fact")
    expect(facts.filter(has_text="Caroline lives in Porto").locator(".badge")).to_have_text(
        "current"
    )
    expect(facts.filter(has_text="Caroline lives in Lisbon").locator(".badge")).to_have_text(
        "superseded"
    )
    expect(facts.filter(has_text="Caroline works at Acme")).to_have_count(1)
    links = caroline.locator("li.link-item")
    expect(links.filter(has_text="home → Porto")).to_have_count(1)
    expect(links.filter(has_text="Lisbon").locator(".badge")).to_have_text("ended")
    places = page.get_by_role("region", name="Places")
    porto = places.get_by_role("article", name="place: Porto")
    expect(porto.locator("li.link-item")).to_contain_text("← home of Caroline")
    page.screenshot(path=str(SHOTS / "11-entities.png"), full_page=True)
    caroline.get_by_role("button", name="Go to Porto").click()
    expect(porto).to_be_focused()
    page.get_by_label("Find an entity").fill("acm")
    expect(page.locator("article.entity:visible")).to_have_count(1)
    expect(page.get_by_role("region", name="People")).to_be_hidden()
    expect(page.get_by_role("article", name="organisation: Acme")).to_be_visible()


def test_superseded_marked_with_replacement_and_status_filter(page: Any) -> None:
    from playwright.sync_api import expect

    search(page, WHERE)
    cards = page.locator("article.memory")
    old = cards.filter(has_text="I live in Lisbon")
    expect(old).to_have_attribute("data-status", "superseded")
    expect(old.locator(".badge.status")).to_have_text("superseded")
    expect(old.locator(".replaced-by")).to_contain_text("Replaced by: Caroline lives in Porto")
    # what replaced it is current (the Porto message and its claim take one card)
    newer = cards.filter(has_text="Porto", has_not_text="Lisbon")
    expect(newer.first.locator(".badge.status")).to_have_text("current")
    page.screenshot(path=str(SHOTS / "12-superseded-marked.png"), full_page=True)

    # what replaced it, with its source message's text
    old.get_by_role("button", name="Open what replaced it").click()
    details = page.locator("#details")
    expect(details).to_be_visible()
    expect(details.locator(".source")).to_contain_text("Caroline: I moved to Porto")
    expect(details).not_to_contain_text("null")
    expect(details.locator(".history")).to_contain_text("replaces: Caroline lives in Lisbon")
    page.screenshot(path=str(SHOTS / "13-replacement-sources.png"))
    page.keyboard.press("Escape")

    # the status filter hides what is no longer true
    total = cards.count()
    page.get_by_label("Status").select_option("current")
    expect(cards.filter(has_text="I live in Lisbon")).to_have_count(0)
    expect(cards).to_have_count(total - 1)
    expect(page.locator("#status")).to_contain_text("1 hidden by the filters")
    page.get_by_label("Status").select_option("superseded")
    expect(cards).to_have_count(1)
    page.get_by_label("Status").select_option("")
    expect(cards).to_have_count(total)

    # in the list, the closed fact itself says what replaced it, and its history says why
    page.get_by_role("button", name="Show all").click()
    expect(page.locator("#results-title")).to_have_text("Memories of caroline")
    page.get_by_label("Kind").select_option("fact")
    expect(cards.locator(".badge.episode")).to_have_count(0)
    lisbon = cards.filter(has_text="Caroline lives in Lisbon")
    expect(lisbon).to_have_attribute("data-status", "superseded")
    expect(lisbon.locator(".replaced-by")).to_contain_text("Caroline lives in Porto")
    lisbon.get_by_role("button", name="History and sources").click()
    expect(details.locator(".replaced-by")).to_contain_text("Caroline lives in Porto (home)")
    expect(details.locator(".source")).to_contain_text("I live in Lisbon with my sister Ana")
    page.keyboard.press("Escape")
    page.get_by_label("Kind").select_option("episode")
    expect(cards.locator(".badge.fact")).to_have_count(0)
    expect(cards).to_have_count(len(CONVERSATION) + 1)


def test_as_of_shows_what_was_true_then(page: Any) -> None:
    from playwright.sync_api import expect

    page.get_by_label("As of").fill("2023-06-01")
    cards = page.locator("article.memory")
    expect(page.locator("#results-title")).to_contain_text("as of 2023-06-01")
    expect(cards.filter(has_text="Porto")).to_have_count(0)  # said later
    expect(cards.filter(has_text="Caroline lives in Lisbon")).to_have_attribute(
        "data-status", "current"
    )
    search(page, WHERE)
    lisbon = cards.filter(has_text="Lisbon")  # the message and its claim take one card
    expect(lisbon).to_have_count(1)
    expect(lisbon.locator(".badge.status")).to_have_text("current")
    expect(cards.filter(has_text="Porto")).to_have_count(0)
    page.screenshot(path=str(SHOTS / "14-as-of.png"), full_page=True)
    page.get_by_role("button", name="Reset filters").click()
    expect(cards.filter(has_text="I live in Lisbon").locator(".badge.status")).to_have_text(
        "superseded"
    )


def test_user_text_stays_text(page: Any) -> None:
    from playwright.sync_api import expect

    hostile = page.locator("article.memory").filter(has_text="I adore")
    expect(hostile.first.locator(".text")).to_contain_text(HOSTILE)
    assert page.locator("#results img, #results b").count() == 0
    page.get_by_role("tab", name="Entities").click()
    expect(page.locator("#entities-body article.entity").first).to_be_visible()
    assert page.locator("#entities-body img, #entities-body b").count() == 0


def test_favicon_is_served(server: LiveServer, page: Any) -> None:
    with server.client() as anonymous:
        icon = anonymous.get("/ui/favicon.svg")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text.lstrip().startswith("<svg")
    href = page.locator('link[rel="icon"]').get_attribute("href")
    assert href == "/ui/favicon.svg"
    assert page.evaluate("fetch('/ui/favicon.svg').then((r) => r.status)") == 200
