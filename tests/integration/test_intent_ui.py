"""The ``/ui`` search box (issue 19) in a real headless Chromium against the real service: a query
shapes the list, the page shows what it matched, and the intent's own paths are drawn with their
Cypher. (Set-up as in ``test_ui.py``.)"""

from __future__ import annotations


import httpx
import pytest

from kgrec.serving.http import BackgroundServer, create_app

pytestmark = [pytest.mark.ui, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def server(recommender):
    recommender.intent.ready()  # the intent vectors, once per session (saved with the run)
    with BackgroundServer(create_app(recommender, token="ui-test-token")) as s:
        yield s


def test_the_search_box_shapes_the_list_and_shows_its_matches(server, browser, recommender):
    user = sorted(recommender.users(), key=lambda s: (len(s), s))[2]
    expected = httpx.get(f"{server.url}/v1/users/{user}/recommendations",
                         params={"k": 5, "max_paths": 2, "query": "female vocalists"}, timeout=120).json()
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(f"{server.url}/ui", wait_until="networkidle")
        page.wait_for_selector("body[data-state=loaded]", timeout=30_000)
        assert page.locator("#matches").is_hidden()
        page.fill("#k", "5")
        page.fill("#paths", "2")
        page.fill("#query", "female vocalists")
        page.select_option("#user", user)
        page.wait_for_selector("body[data-state=ready]", timeout=120_000)
        page.wait_for_selector("#matches .match", timeout=30_000)
        names = [t.strip() for t in page.locator("section.rec h2 .item").all_inner_texts()]
        assert names == [r["item"]["name"] for r in expected["recommendations"]]
        shown = page.locator("#matches .match").all_inner_texts()
        assert [s.split(" (")[0] for s in shown] == [m["name"] for m in expected["intent"]["matches"]]
        sentences = page.locator("p.sentence").all_inner_texts()
        assert any(s.startswith("You asked for 'female vocalists'") for s in sentences)
        assert not errors, errors
    finally:
        context.close()
