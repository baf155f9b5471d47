"""The web console and the API reference in a real headless browser (Debian's Chromium,
driven by Playwright): they render, work, log no errors and load nothing from elsewhere.
Screenshots are taken and checked, and kept under the test's temporary directory."""

from __future__ import annotations

import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright

from tests.agent.service.conftest import API_KEY, RESNET_QUERY, LiveServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium (`make test` installs it)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


class Watched:
    """A page with every console error and every request it made."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", self._request)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)

    def foreign(self, origin: str) -> list[str]:
        own = urlsplit(origin).netloc
        return [url for url in self.requests if urlsplit(url).netloc not in (own, "")]


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    yield Watched(context.new_page())
    context.close()


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_the_console_runs_a_request_and_shows_each_step(
    template_server: LiveServer, watched: Watched, tmp_path: Path
) -> None:
    page = watched.page
    page.goto(f"{template_server.url}/")
    page.fill("#api-key", API_KEY)
    page.click("#key-form button")
    page.wait_for_selector("#key-status:has-text('key accepted')")
    assert page.locator("#ask-arm option").all_inner_texts()[:2] == ["routed", "template"]

    page.fill("#ask-query", RESNET_QUERY)
    page.click("#ask-form button")
    page.wait_for_selector("#task:not([hidden])")
    assert "torchhub/" in page.inner_text("#task-hits")
    assert "chosen by" in page.inner_text("#task-routing")
    assert page.inner_text("#task-call").startswith("torch.hub.load(")
    assert page.inner_text("#task-execution strong") == "ok"

    page.click("#thumbs-up")
    page.wait_for_selector("#feedback-status:has-text('recorded')")
    page.wait_for_selector("#router-arms tr:nth-child(2)")
    assert "template" in page.inner_text("#router-arms")
    # The arm-share and cost charts are drawn as SVG once a task was served.
    page.wait_for_selector("#chart-shares svg rect.bar")
    assert page.locator("#chart-cost svg").count() == 1

    page.fill("#search-query", "translate English to French")
    page.click("#search-form button")
    page.wait_for_selector("#search-hits tr:nth-child(2)")

    shot = tmp_path / "console.png"
    page.screenshot(path=str(shot), full_page=True)
    width, height = _png_size(shot)
    assert width == 1280 and height >= 1000 and shot.stat().st_size > 20_000
    assert watched.errors == []
    assert watched.foreign(template_server.url) == []


def test_a_wrong_key_is_said_on_the_page(template_server: LiveServer, watched: Watched) -> None:
    page = watched.page
    page.goto(f"{template_server.url}/")
    page.fill("#api-key", "wrong")
    page.click("#key-form button")
    page.wait_for_selector("#key-status:has-text('401')")
    # The failed request is the browser's own console error; nothing else is.
    assert all("401" in error for error in watched.errors)


def test_the_api_reference_renders_offline(
    template_server: LiveServer, watched: Watched, tmp_path: Path
) -> None:
    page = watched.page
    page.goto(f"{template_server.url}/docs")
    page.wait_for_selector(".swagger-ui .title")
    assert "toolroute" in page.inner_text(".swagger-ui .title")
    page.wait_for_selector(".opblock-summary-path[data-path='/v1/chat/completions']")
    shot = tmp_path / "docs.png"
    page.screenshot(path=str(shot))
    assert _png_size(shot) == (1280, 1000)
    assert watched.errors == []
    assert watched.foreign(template_server.url) == []
