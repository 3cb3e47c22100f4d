"""``/docs`` renders with no network (issue 14 A2): Swagger UI's script and stylesheet come from the
service itself. Driven in headless Chromium (as tests/integration/test_ui.py does) with every request
to any other host aborted."""

from __future__ import annotations

import os
import re
import shutil

import httpx
import pytest

from kgrec.serving.http import BackgroundServer, create_app

pytestmark = pytest.mark.ui

CHROMIUM = os.environ.get("KGREC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def server(recommender):
    with BackgroundServer(create_app(recommender, token="docs-test-token")) as s:
        yield s


def test_docs_page_names_only_local_assets(server):
    with httpx.Client(base_url=server.url, timeout=30) as c:
        page = c.get("/docs")
        assert page.status_code == 200
        assert "cdn" not in page.text.lower() and "https://" not in page.text
        assets = re.findall(r'(?:href|src)="([^"]+)"', page.text)
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
            [url] = [a for a in assets if a.endswith(asset)]
            assert url.startswith("/")  # the service's own path, no host
            r = c.get(url)
            assert r.status_code == 200 and len(r.content) > 50_000, asset


def test_swagger_ui_renders_with_no_network(server):
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)) and not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian package 'chromium'; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    blocked: list[str] = []

    def only_the_service(route) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context()
            context.route("**/*", only_the_service)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server.url}/docs", wait_until="networkidle")
            page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
            assert "kgrec" in page.inner_text(".swagger-ui .info .title")
            page.wait_for_selector(".opblock", timeout=30_000)
            summaries = page.locator(".opblock-summary-path").all_inner_texts()
            assert any("/v1/users/{user}/recommendations" in s for s in summaries), summaries
            assert "/v1/query" in " ".join(summaries)
            assert not errors, errors
            assert not [u for u in blocked if "swagger" in u or u.endswith((".js", ".css"))], blocked
        finally:
            browser.close()
