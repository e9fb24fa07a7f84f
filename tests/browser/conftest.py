"""Fixtures for the phone-app browser tests: Debian's Chromium driven by
Playwright with a phone viewport, and a static server for the app shell.

`static_app` serves server/static/app the way the Flask app does (`/app/`,
`/app/vendor/...` from node_modules, `/app/rules.js` from forms/rules.js,
`/app/messages.json` from the message catalogue) and
answers 401 on /api, so renderer tests run without CouchDB or the server. The
flow test uses the project's real fixtures instead.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import messages
from tests.browser.phone_app import VOLUNTEER, install_form

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "server" / "static" / "app"
VENDOR = {
    "/app/vendor/pouchdb.min.js": ROOT / "node_modules/pouchdb/dist/pouchdb.min.js",
    "/app/vendor/logic.js": ROOT / "node_modules/json-logic-js/logic.js",
    "/app/rules.js": ROOT / "forms/rules.js",
}
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
PHONE = {"viewport": {"width": 360, "height": 640}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True, "locale": "vi-VN",
         "timezone_id": "Asia/Ho_Chi_Minh"}
SAMPLE_FORM = json.loads((Path(__file__).parent / "sample_form.json").read_text("utf-8"))


class _AppHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if path.startswith("/api/"):
            error = {"code": "401.1", "vi": "Chưa đăng nhập", "en": "Not logged in"}
            self._json(401, {"error": error})
            return
        if path in VENDOR:
            self._file(VENDOR[path], "text/javascript")
            return
        if path in ("/app", "/app/"):
            self._file(APP_DIR / "index.html", "text/html; charset=utf-8")
            return
        if path == "/app/messages.json":
            self._json(200, messages.for_phone())
            return
        if path == "/app/sw.js":
            self._file(APP_DIR / "sw.js", "text/javascript", {"Service-Worker-Allowed": "/app"})
            return
        if path.startswith("/app/"):
            target = (APP_DIR / path[len("/app/"):]).resolve()
            if APP_DIR in target.parents and target.is_file():
                self._file(target, self.guess_type(str(target)))
                return
        self.send_error(404)

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _file(self, path: Path, content_type: str, headers: dict | None = None) -> None:
        data = path.read_bytes() if path.is_file() else b""
        if path.suffix == ".js":
            content_type = "text/javascript"
        elif path.suffix == ".webmanifest":
            content_type = "application/manifest+json"
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="session")
def static_app() -> Iterator[str]:
    """Base URL of a static server for the app shell (no API, no sync)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AppHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium under Playwright; skipped where it is not installed."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/system-deps installs it)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def phone(chromium):
    """A fresh phone-sized browser context (empty storage, geolocation granted)."""
    context = chromium.new_context(
        **PHONE, permissions=["geolocation"],
        geolocation={"latitude": 20.4167, "longitude": 106.1667, "accuracy": 12},
    )
    context.set_default_timeout(10_000)
    refused = policy_violations(context)
    yield context
    context.close()
    assert not refused, refused


def policy_violations(context) -> list[str]:
    """What the Content-Security-Policy refused in this context's pages, as Chromium
    reports it on the console (the real server sends the policy; the static one none)."""
    refused: list[str] = []
    context.on("console", lambda message: "Content Security Policy" in message.text
               and refused.append(message.text))
    return refused


@pytest.fixture
def app_page(phone, static_app):
    """The app open on the survey list, a volunteer remembered and the sample form installed."""
    phone.add_init_script(
        "localStorage.getItem('sotay.user') || "
        f"localStorage.setItem('sotay.user', JSON.stringify({json.dumps(VOLUNTEER)}))"
    )
    page = phone.new_page()
    page.goto(f"{static_app}/app/")
    page.wait_for_selector("body[data-ready]")
    install_form(page, SAMPLE_FORM)
    page.reload()
    page.wait_for_selector("a[data-form=sample]")
    return page


@pytest.fixture
def database_url(tmp_path) -> str:
    """SQLite only: these tests are about the phone; SQL backends are tested elsewhere."""
    return f"sqlite:///{tmp_path / 'sotay.db'}"


@pytest.fixture
def office(chromium):
    """A desktop browser context for the reviewer."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="vi-VN")
    context.set_default_timeout(10_000)
    refused = policy_violations(context)
    yield context
    context.close()
    assert not refused, refused
