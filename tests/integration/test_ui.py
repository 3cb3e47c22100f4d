"""The explanation page ``/ui`` in a real headless Chromium (Debian's ``chromium``, driven by
Playwright through its executable path), against the real service on a loopback port.

The page loads, a user is chosen, at least one explanation path is drawn as SVG, its Cypher box
holds the query the API returned, and a screenshot is written under ``test-artifacts/ui/`` (or
``KGREC_TEST_ARTIFACTS``), whose path the test prints.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from kgrec.serving.http import BackgroundServer, create_app

pytestmark = pytest.mark.ui

REPO = Path(__file__).resolve().parents[2]


def _artifacts() -> Path:
    folder = Path(os.environ.get("KGREC_TEST_ARTIFACTS", REPO / "test-artifacts")) / "ui"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def server(recommender):
    with BackgroundServer(create_app(recommender, token="ui-test-token")) as s:
        yield s


def test_ui_routes(server, recommender):
    with httpx.Client(base_url=server.url, timeout=30) as c:
        page = c.get("/ui")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "/ui/static/ui.js" in page.text
        assert c.get("/ui/static/ui.js").headers["content-type"].startswith("text/javascript")
        for bad in ("../http.py", "..%2Fhttp.py", ".hidden.js", "nothing.js", "ui.py"):
            assert c.get(f"/ui/static/{bad}").status_code == 404, bad
        users = c.get("/ui/users").json()
        known = sorted(recommender.users(), key=lambda s: (len(s), s))
        assert users["users"] == known and users["total"] == len(known) and users["graph"] == recommender.graph_name
        assert c.get("/ui/users", params={"q": known[0], "limit": 1}).json()["users"] == [known[0]]
        assert c.get("/ui/users", params={"limit": 0}).status_code == 422


def test_page_draws_explanation_paths(server, browser, recommender):
    user = sorted(recommender.users(), key=lambda s: (len(s), s))[1]
    expected = httpx.get(f"{server.url}/v1/users/{user}/recommendations", params={"k": 5, "max_paths": 2},
                         timeout=60).json()
    assert any(r["explanations"] for r in expected["recommendations"]), "the fixture run explains nothing"

    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(f"{server.url}/ui", wait_until="networkidle")
        page.wait_for_selector("body[data-state=loaded]", timeout=30_000)
        assert page.locator("#user option").count() == recommender.num_users
        page.fill("#k", "5")
        page.fill("#paths", "2")
        page.select_option("#user", user)  # a change event: the page asks for recommendations
        page.wait_for_selector("body[data-state=ready]", timeout=60_000)

        cards = page.locator("section.rec")
        assert cards.count() == len(expected["recommendations"])
        names = [t.strip() for t in page.locator("section.rec h2 .item").all_inner_texts()]
        assert names == [r["item"]["name"] for r in expected["recommendations"]]

        graphs = page.locator("svg.path-graph")
        n_paths = sum(len(r["explanations"]) for r in expected["recommendations"])
        assert graphs.count() == n_paths >= 1
        first = next(e for r in expected["recommendations"] for e in r["explanations"])
        drawn = graphs.first
        assert drawn.locator("circle").count() == len(first["path"]["nodes"])
        assert drawn.locator("line.edge").count() == len(first["path"]["relations"])
        assert [g.get_attribute("data-id") for g in drawn.locator("g.node").all()] == \
            [n["id"] for n in first["path"]["nodes"]]
        box = drawn.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 50  # laid out, visible

        assert page.locator("textarea.cypher").first.input_value() == first["cypher"]
        params = page.locator("textarea.params").first.input_value()
        assert params.startswith(":params {") and all(f'{k}: "{v}"' in params for k, v in first["parameters"].items())

        shot = _artifacts() / "ui-explanations.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"\nscreenshot: {shot}")
        assert shot.stat().st_size > 10_000
        assert not errors, errors
    finally:
        context.close()


def test_page_reports_an_unknown_user(server, browser):
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{server.url}/ui?user=no-such-user", wait_until="networkidle")
        page.wait_for_selector("body[data-state=loaded]", timeout=30_000)
        page.evaluate("""() => { const s = document.getElementById('user');
                                 const o = document.createElement('option'); o.value = o.textContent = 'no-such-user';
                                 s.appendChild(o); s.value = 'no-such-user'; s.dispatchEvent(new Event('change')); }""")
        page.wait_for_selector("body[data-state=error]", timeout=30_000)
        assert "404" in page.inner_text("#message") and "no-such-user" in page.inner_text("#message")
    finally:
        context.close()
