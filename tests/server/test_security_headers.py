"""What every answer carries (issue 19, B8): a Content-Security-Policy with no
inline script, no framing, no content sniffing, nothing of the CouchDB-API
server's own headers, and a Secure session cookie when the deployment says so."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.app import create_app
from server.config import login_settings
from server.models import db
from tests.conftest import log_in

TEMPLATES = Path(__file__).resolve().parents[2] / "server" / "templates"


def assert_safe_headers(reply) -> None:
    policy = reply.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in policy, (reply.request.path, policy)
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert "X-Powered-By" not in reply.headers


def test_pages_api_and_app_carry_the_headers(client, reviewer):
    answers = [client.get("/login"), client.get("/app/"), client.get("/app/js/app.js"),
               client.get("/static/pages.css"), client.get("/healthz"),
               client.get("/api/session"), client.get("/no/such/page")]
    log_in(client, reviewer)
    answers += [client.get("/review"), client.get("/dashboard")]
    for reply in answers:
        reply.close()  # files are sent from an open handle
        assert_safe_headers(reply)
    policy = answers[0].headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert answers[0].headers["X-Frame-Options"] == "DENY"


def test_sync_answers_carry_the_headers_and_not_the_couch_servers(client, volunteer):
    assert_safe_headers(client.get(f"/sync/{volunteer.couch_db}/"))  # refused: no login
    log_in(client, volunteer)
    reply = client.get(f"/sync/{volunteer.couch_db}/")
    assert reply.status_code == 200
    assert_safe_headers(reply)
    assert "sandbox" in reply.headers["Content-Security-Policy"]


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_templates_have_no_inline_script_or_style(template):
    """The policy would block them; the browser tests show the pages still work."""
    text = (TEMPLATES / template).read_text("utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)", text)
    assert not re.search(r"<style|\sstyle=|\son[a-z]+=", text)


def test_secure_cookies_setting(app, volunteer):
    assert login_settings({"SOTAY_SECURE_COOKIES": "1"})["SECURE_COOKIES"] is True
    assert login_settings({})["SECURE_COOKIES"] is False
    plain = app.test_client().post("/api/session", json={
        "username": volunteer.username, "password": volunteer.password})
    assert "Secure" not in plain.headers["Set-Cookie"]
    secure_app = create_app({**app.config, "SECURE_COOKIES": True})
    try:
        reply = secure_app.test_client().post("/api/session", json={
            "username": volunteer.username, "password": volunteer.password},
            base_url="https://localhost")
        assert reply.status_code == 200, reply.data
        assert "; Secure" in reply.headers["Set-Cookie"]
    finally:
        with secure_app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_behind_a_trusted_proxy_the_clients_address_counts(app, volunteer):
    proxied = create_app({**app.config, "TRUSTED_PROXIES": 1,
                          "LOGIN_FAILURES_PER_ADDRESS": 3})
    try:
        client = proxied.test_client()
        for n in range(3):
            client.post("/api/session", json={"username": f"guess{n}", "password": "x"},
                        headers={"X-Forwarded-For": "198.51.100.1"})
        blocked = client.post("/api/session", json={
            "username": volunteer.username, "password": volunteer.password},
            headers={"X-Forwarded-For": "198.51.100.1"})
        assert blocked.status_code == 429
        other = client.post("/api/session", json={
            "username": volunteer.username, "password": volunteer.password},
            headers={"X-Forwarded-For": "198.51.100.2"})
        assert other.status_code == 200, other.data
    finally:
        with proxied.app_context():
            db.session.remove()
            db.engine.dispose()
