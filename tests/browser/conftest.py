"""Browser tests: the app served over HTTP from this process, driven by Playwright in Debian's Chromium, with axe-core
run on every page a journey visits and a screenshot of each saved under artefacts/screenshots (not committed)."""
from __future__ import annotations

import os
import re
import threading
from datetime import date
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from casework.db import upgrade

from ..conftest import fresh_database, web_app_on

CHROMIUM = os.environ.get("CASEWORK_CHROMIUM", "/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(__file__).parents[2] / "artefacts" / "screenshots"
BLOCKING = ("serious", "critical")


@pytest.fixture(scope="module")
def live_url(tmp_path_factory):
    """A database of the module's own (committed data)."""
    with fresh_database(tmp_path_factory.mktemp("browser")) as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="module")
def server(live_url, tmp_path_factory):
    """The app on a real HTTP port in a thread of this process (so the frozen clock holds for it too)."""
    with web_app_on(live_url, tmp_path_factory) as app:
        app.config["WTF_CSRF_SSL_STRICT"] = False
        httpd = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{httpd.server_port}"
        httpd.shutdown()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"Chromium is not at {CHROMIUM}: scripts/setup.sh installs Debian's chromium"
    assert AXE.exists(), f"axe-core is not at {AXE}: scripts/setup.sh installs it"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


class Journey:
    """One user's tab: every page it lands on is checked by axe and photographed."""

    def __init__(self, browser, base: str, name: str):
        # axe is injected as a script tag, which the app's Content-Security-Policy would (rightly) refuse
        self.context = browser.new_context(base_url=base, bypass_csp=True, viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.name, self.shots, self.checked = name, 0, []
        self.page.set_default_timeout(15_000)

    def open(self, path: str):
        self.page.goto(path)
        return self.check()

    def check(self, label: str | None = None):
        """Run axe on the current page (0 serious or critical violations) and save a screenshot."""
        page = self.page
        page.wait_for_load_state("load")
        assert page.locator("h1").count() == 1, f"{page.url}: one h1"
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        bad = [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
               for v in result["violations"] if v["impact"] in BLOCKING]
        assert bad == [], f"{page.url}: axe found {bad}"
        self.checked.append(page.url)
        self.shots += 1
        slug = re.sub(r"[^a-z0-9]+", "-", (label or page.url.split("/", 3)[-1] or "home").lower()).strip("-")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{self.name}-{self.shots:02d}-{slug[:60]}.png"), full_page=True)
        return page

    def then(self, label: str, action):
        """Do something that loads a page (`action`), wait for that page, then check it."""
        with self.page.expect_navigation():
            action()
        return self.check(label)

    def sign_in(self, email: str, password: str):
        self.open("/sign-in")
        self.page.get_by_label("Email address").fill(email)
        self.page.get_by_label("Password").fill(password)
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="Sign in").click()
        return self.check()

    def close(self):
        self.context.close()


def words(page) -> str:
    """The text of the page's main element, whitespace collapsed."""
    return " ".join(page.locator("main").inner_text().split())


def fill_date(page, prefix: str, day: date) -> None:
    """A GOV.UK date input whose boxes are #PREFIX-day, #PREFIX-month and #PREFIX-year."""
    page.locator(f"#{prefix}-day").fill(str(day.day))
    page.locator(f"#{prefix}-month").fill(str(day.month))
    page.locator(f"#{prefix}-year").fill(str(day.year))


@pytest.fixture()
def journey(browser, server):
    opened = []

    def start(name: str) -> Journey:
        opened.append(Journey(browser, server, name))
        return opened[-1]

    yield start
    for j in opened:
        j.close()
