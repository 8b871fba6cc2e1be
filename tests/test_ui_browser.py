"""The web UI in a real browser (Debian's Chromium driven by Playwright): sign in, pick a user,
search, timeline, history and sources, edit, delete with confirmation. Screenshots go to
artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from service_helpers import LiveServer
from ui_browser import ARGS, CHROMIUM, SHOTS, needs_chromium

pytestmark = needs_chromium

CONVERSATION = [
    ("2023-05-07T14:00:00Z", "Caroline", "I went to an LGBTQ support group yesterday"),
    ("2023-05-07T14:01:00Z", "Melanie", "That sounds empowering! How did it feel?"),
    ("2023-05-08T09:30:00Z", "Caroline", "I'm researching adoption agencies this week"),
    ("2023-06-20T18:10:00Z", "Melanie", "We went camping at the beach with the kids"),
    ("2023-06-21T08:00:00Z", "Caroline", "I started painting sunsets again, it calms me"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("ui") / "memory.db").start()
    key = live.new_key("ui-tenant", "write")
    with live.client(key) as api:
        for stamp, speaker, text in CONVERSATION:
            body = {
                "messages": [{"content": text, "speaker": speaker, "role": "user"}],
                "user_id": "caroline",
                "session_id": "session-1" if stamp < "2023-06" else "session-2",
                "timestamp": stamp,
            }
            assert api.post("/v1/memories", json=body).status_code == 200
        api.post("/v1/memories", json={"messages": "Another user's note", "user_id": "dave"})
    live.ui_key = key  # type: ignore[attr-defined]
    yield live
    live.stop()


def test_ui_sign_in_search_history_edit_delete(server: LiveServer) -> None:
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    key: str = server.ui_key  # type: ignore[attr-defined]
    with server.client(key) as api:  # what the UI should show: messages and extracted facts
        stored = api.get("/v1/memories", params={"user_id": "caroline"}).json()["results"]
    kinds = [i["kind"] for i in stored]
    assert kinds.count("episode") == len(CONVERSATION)
    facts = kinds.count("fact")
    assert len(stored) == len(CONVERSATION) + facts
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.set_default_timeout(10_000)
        page.goto(server.url + "/")

        # a wrong key is refused, with a message
        page.get_by_label("API key").fill("egk_0000000000000000_wrongwrongwrongwrongwrong")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#status")).to_contain_text("not accepted")
        page.screenshot(path=str(SHOTS / "01-login-refused.png"))

        # sign in with the keyboard
        page.get_by_label("API key").fill(key)
        page.get_by_label("API key").press("Enter")
        user = page.get_by_label("User", exact=True)
        expect(user).to_be_visible()
        assert sorted(user.locator("option").all_inner_texts()) == ["caroline", "dave"]
        user.select_option("caroline")
        cards = page.locator("article.memory")
        expect(cards).to_have_count(len(stored))
        expect(cards.locator(".badge.episode")).to_have_count(len(CONVERSATION))
        expect(cards.locator(".badge.fact")).to_have_count(facts)
        expect(cards.first).to_contain_text("Valid")
        expect(cards.first).to_contain_text("Sources")
        page.screenshot(path=str(SHOTS / "02-memories-list.png"), full_page=True)

        # timeline: grouped by the day things were said
        page.get_by_label("Timeline").check()
        days = page.locator("section.day")
        expect(days).to_have_count(4)
        expect(days.first.locator("h3")).to_contain_text("2023")
        page.screenshot(path=str(SHOTS / "03-timeline.png"), full_page=True)
        page.get_by_label("List").check()

        # search
        page.get_by_label("Search this user's memories").fill("adoption agencies")
        page.get_by_role("button", name="Search", exact=True).click()
        expect(page.locator("#results-title")).to_contain_text("adoption agencies")
        first = cards.first
        expect(first).to_contain_text("adoption agencies")
        expect(first.locator(".badge.score")).to_be_visible()
        page.screenshot(path=str(SHOTS / "04-search.png"), full_page=True)

        # edit the hit (new version; history keeps the old text)
        first.get_by_role("button", name="Edit").click()
        editor = page.get_by_role("dialog", name="Edit memory")
        expect(editor).to_be_visible()
        editor.get_by_label("Text").fill("I'm comparing three adoption agencies this week")
        editor.get_by_label("Reason").fill("more precise")
        page.screenshot(path=str(SHOTS / "05-edit.png"))
        editor.get_by_role("button", name="Save").click()
        expect(editor).to_be_hidden()
        expect(first).to_contain_text("comparing three adoption agencies")

        # history and source messages
        first.get_by_role("button", name="History").click()
        details = page.locator("#details")
        expect(details).to_be_visible()
        expect(details.locator(".history li")).to_have_count(2)
        expect(details).to_contain_text("UPDATE")
        expect(details).to_contain_text("more precise")
        expect(details.locator(".source")).to_contain_text("researching adoption agencies")
        page.screenshot(path=str(SHOTS / "06-history-and-sources.png"))
        page.keyboard.press("Escape")
        expect(details).to_be_hidden()

        # delete: cancel first (nothing happens), then confirm
        memory_id = first.get_attribute("data-id")
        first.get_by_role("button", name="Delete").click()
        confirm = page.get_by_role("alertdialog", name="Delete memory?")
        expect(confirm).to_be_visible()
        page.screenshot(path=str(SHOTS / "07-delete-confirm.png"))
        confirm.get_by_role("button", name="Cancel").click()
        expect(page.locator(f'article[data-id="{memory_id}"]')).to_have_count(1)
        first.get_by_role("button", name="Delete").click()
        confirm.get_by_role("button", name="Delete").click()
        expect(page.locator(f'article[data-id="{memory_id}"]')).to_have_count(0)
        expect(page.locator("#status")).to_contain_text("deleted")
        page.get_by_role("button", name="Show all").click()
        expect(cards).to_have_count(len(stored) - 1)
        page.screenshot(path=str(SHOTS / "08-after-delete.png"), full_page=True)
        browser.close()
    assert not errors, errors

    with server.client(key) as api:  # the UI's changes reached the store
        assert api.get(f"/v1/memories/{memory_id}").status_code == 404
        history = api.get(f"/v1/memories/{memory_id}/history", params={"user_id": "caroline"})
        assert [h["event"] for h in history.json()["results"]] == ["ADD", "UPDATE", "DELETE"]
