"""Real headless Chromium for browser tests: Debian's /usr/bin/chromium driven by
Playwright (never a browser download), axe-core injected from node_modules. Tests that
use these fixtures skip cleanly where Chromium or Playwright is missing (a laptop's
embedded-default `make test`) and run in CI, where .ci/run installs both."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")


@pytest.fixture(scope="module")
def chromium(django_db_setup):
    """One browser per test module. Playwright's sync API keeps an asyncio loop running
    in this thread, which makes Django refuse ORM calls here (SynchronousOnlyOperation);
    the tests only touch the database between browser steps, never concurrently with
    it, so that guard is lifted while the browser is up, and only then."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_api.sync_playwright() as playwright:
            # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"]
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser_page(chromium, live_server):
    """A fresh page (own cookies, clipboard allowed) on the live server, 1280 wide."""
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    yield page
    context.close()


def axe_violations(page) -> list[dict]:
    """The serious and critical accessibility violations axe-core finds on the page."""
    if not AXE.exists():
        # CI installs it (.ci/run); elsewhere a missing npm ci is a skip, not a failure.
        missing = pytest.fail if os.environ.get("CI") else pytest.skip
        missing(f"{AXE} is missing: run `npm ci` (as .ci/run does)")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in BLOCKING_IMPACTS
    ]
