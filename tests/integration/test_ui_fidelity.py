"""The ``/ui`` page's fidelity bars (issue 20), in a real headless Chromium against the real service:
each recommended item gets a bar whose value is the first explanation's share of the item's lead
that ``GET /v1/users/{id}/fidelity`` reports, and each explanation a line saying what taking its
path out does. A screenshot is written under ``test-artifacts/ui/`` (or ``KGREC_TEST_ARTIFACTS``)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from kgrec.serving.http import BackgroundServer, create_app

pytestmark = pytest.mark.ui

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(recommender):
    with BackgroundServer(create_app(recommender)) as s:
        yield s


def test_each_item_shows_a_fidelity_bar(server, browser, recommender):
    user = sorted(recommender.users(), key=lambda s: (len(s), s))[2]
    expected = httpx.get(f"{server.url}/v1/users/{user}/fidelity", params={"k": 6, "max_paths": 2}, timeout=60).json()
    assert any(e["measured"] for i in expected["items"] for e in i["explanations"]), "nothing measured"
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(f"{server.url}/ui", wait_until="networkidle")
        page.wait_for_selector("body[data-state=loaded]", timeout=30_000)
        page.fill("#k", "6")
        page.fill("#paths", "2")
        page.select_option("#user", user)
        page.wait_for_selector("body[data-state=ready]", timeout=60_000)
        bars = page.locator("section.rec h2 .fidelity")
        assert bars.count() == len(expected["items"])
        for bar, item in zip(bars.all(), expected["items"]):
            first = item["explanations"][0] if item["explanations"] else None
            value = bar.get_attribute("data-value")
            if first is None or not first["measured"] or first["lead_share"] is None:
                assert value == "n/a"
            else:
                assert float(value) == pytest.approx(max(0.0, min(1.0, first["lead_share"])), abs=1e-3)
            assert bar.bounding_box()["width"] > 40
        lines = page.locator(".explanation .fscore").all_inner_texts()
        assert len(lines) == sum(len(i["explanations"]) for i in expected["items"])
        assert all(t.startswith("fidelity") for t in lines)
        folder = Path(os.environ.get("KGREC_TEST_ARTIFACTS", REPO / "test-artifacts")) / "ui"
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / "ui-fidelity.png"), full_page=True)
        assert not errors, errors
    finally:
        context.close()
