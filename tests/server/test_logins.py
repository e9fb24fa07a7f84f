"""Logins (issue 19, B7): limits on wrong passwords, the same cost for an unknown
name, sessions that end on logout, and no login or logout sent from another site."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from server.app import create_app
from server.models import db
from tests.conftest import log_in

ADDRESS = "203.0.113.7"


def post_login(client, username: str, password: str, address: str = ADDRESS, **headers):
    return client.post("/api/session", json={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address}, headers=headers)


def page_token(client, path: str = "/login") -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)


def assert_throttled(reply) -> None:
    assert reply.status_code == 429, reply.data
    error = reply.get_json()["error"]
    assert error["code"] == "429.1" and "quá nhiều" in error["vi"] and "Too many" in error["en"]
    assert 60 <= int(reply.headers["Retry-After"]) <= 15 * 60
    assert error["detail"]["minutes"] == -(-int(reply.headers["Retry-After"]) // 60)


def test_wrong_passwords_are_limited_per_account(app, client, volunteer):
    limit = app.config["LOGIN_FAILURES_PER_ACCOUNT"]
    for n in range(limit):  # from many addresses: only the account's limit applies
        assert post_login(client, volunteer.username, "wrong", f"198.51.100.{n}").status_code \
            == 401
    assert_throttled(post_login(client, volunteer.username, volunteer.password))


def test_the_account_limit_holds_across_web_processes(app, client, volunteer):
    """Production runs several WSGI workers: the counts are in SQL, not in one process."""
    other = create_app(dict(app.config))
    try:
        limit = app.config["LOGIN_FAILURES_PER_ACCOUNT"]
        for n in range(limit):
            answering = client if n % 2 else other.test_client()
            assert post_login(answering, volunteer.username, "wrong").status_code == 401
        assert_throttled(post_login(other.test_client(), volunteer.username,
                                    volunteer.password, "198.51.100.99"))
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


def test_wrong_passwords_are_limited_per_address(app, client, volunteer):
    app.config["LOGIN_FAILURES_PER_ADDRESS"] = 5
    for n in range(5):  # a different name each time: only the address's limit applies
        assert post_login(client, f"guess{n}", "wrong").status_code == 401
    assert_throttled(post_login(client, volunteer.username, volunteer.password))
    assert post_login(client, volunteer.username, volunteer.password, "192.0.2.1") \
        .status_code == 200


def test_the_limit_ends_with_its_window(app, client, volunteer):
    from server.models import LoginFailure

    limit = app.config["LOGIN_FAILURES_PER_ACCOUNT"]
    for _ in range(limit):
        post_login(client, volunteer.username, "wrong")
    assert post_login(client, volunteer.username, volunteer.password).status_code == 429
    with app.app_context():  # the failures grow older than the window
        db.session.execute(update(LoginFailure).values(
            at=LoginFailure.at - timedelta(minutes=app.config["LOGIN_WINDOW_MINUTES"])))
        db.session.commit()
    assert post_login(client, volunteer.username, volunteer.password).status_code == 200


def test_a_login_clears_the_accounts_failures(app, client, volunteer):
    limit = app.config["LOGIN_FAILURES_PER_ACCOUNT"]
    for _ in range(2):
        for _ in range(limit - 1):
            assert post_login(client, volunteer.username, "wrong").status_code == 401
        assert post_login(client, volunteer.username, volunteer.password).status_code == 200


def test_the_login_page_says_when_to_try_again(app, client, reviewer):
    for _ in range(app.config["LOGIN_FAILURES_PER_ACCOUNT"]):
        post_login(client, reviewer.username, "wrong")
    reply = client.post("/login", data={"username": reviewer.username,
                                        "password": reviewer.password,
                                        "csrf": page_token(client)})
    assert reply.status_code == 429 and reply.headers["Retry-After"]
    assert "Đăng nhập sai quá nhiều lần" in reply.text and "Too many failed logins" in reply.text
    assert re.search(r"Thử lại sau \d+ phút", reply.text)


def test_an_unknown_name_costs_the_same_hash_as_a_known_one(client, volunteer, monkeypatch):
    """Timing is not measured here (see bench/bench_login.py): the work is. Both
    answers must come from one scrypt of the same parameters."""
    calls: list[tuple] = []
    scrypt = hashlib.scrypt

    def counted(password, *, salt, n, r, p, maxmem=0, dklen=64):
        calls.append((n, r, p, dklen))
        return scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen)

    monkeypatch.setattr(hashlib, "scrypt", counted)
    assert post_login(client, volunteer.username, "wrong").status_code == 401
    known, calls[:] = list(calls), []
    reply = post_login(client, "nobody-by-this-name", "wrong")
    assert reply.status_code == 401
    assert reply.get_json()["error"]["code"] == "401.1"
    assert calls == known == [(32768, 8, 1, 64)]


def test_logging_out_ends_the_session_for_the_api_and_sync(client, volunteer):
    log_in(client, volunteer)
    cookie = client.get_cookie("session").value
    assert client.delete("/api/session").status_code == 200
    client.set_cookie("session", cookie)  # the old cookie, kept by whoever copied it
    assert client.get("/api/session").status_code == 401
    client.set_cookie("session", cookie)
    assert client.get(f"/sync/{volunteer.couch_db}/").status_code == 401


def test_sync_refuses_an_ended_login_once_its_remembered_identity_is_stale(
        client, volunteer, monkeypatch):
    """The gateway remembers a login's identity for IDENTITY_SECONDS (5 s): a phone
    syncing when its session is ended may go on for those seconds, not longer."""
    from server.views import gateway

    log_in(client, volunteer)
    cookie = client.get_cookie("session").value
    assert client.get(f"/sync/{volunteer.couch_db}/").status_code == 200
    assert client.delete("/api/session").status_code == 200
    client.set_cookie("session", cookie)
    monkeypatch.setattr(gateway, "IDENTITY_SECONDS", 0.0)  # as when those seconds are over
    assert client.get(f"/sync/{volunteer.couch_db}/").status_code == 401


def test_logging_out_of_the_pages_ends_the_session(client, reviewer):
    log_in(client, reviewer)
    cookie = client.get_cookie("session").value
    reply = client.post("/logout", data={"csrf": page_token(client, "/review")})
    assert reply.status_code == 302
    client.set_cookie("session", cookie)
    assert client.get("/api/session").status_code == 401


def test_a_second_login_survives_the_first_ones_logout(app, volunteer):
    phone, browser = app.test_client(), app.test_client()
    log_in(phone, volunteer)
    log_in(browser, volunteer)
    assert browser.delete("/api/session").status_code == 200
    assert phone.get("/api/session").status_code == 200
    assert phone.get(f"/sync/{volunteer.couch_db}/").status_code == 200


def test_login_and_logout_pages_need_their_token(client, reviewer):
    reply = client.post("/login", data={"username": reviewer.username,
                                        "password": reviewer.password})
    assert reply.status_code == 403
    assert client.get("/api/session").status_code == 401
    log_in(client, reviewer)
    assert client.post("/logout").status_code == 403
    assert client.get("/api/session").status_code == 200


@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "cross-site"},
                                     {"Sec-Fetch-Site": "same-site"},
                                     {"Origin": "https://evil.example"},
                                     {"Origin": "null"}])
def test_no_login_or_logout_from_another_site(client, volunteer, headers):
    reply = post_login(client, volunteer.username, volunteer.password, **headers)
    assert reply.status_code == 403 and reply.get_json()["error"]["code"] == "403.5"
    assert client.get("/api/session").status_code == 401
    log_in(client, volunteer)
    assert client.delete("/api/session", headers=headers).status_code == 403
    assert client.get("/api/session").status_code == 200


def test_the_phones_own_login_passes(client, volunteer):
    reply = post_login(client, volunteer.username, volunteer.password,
                       **{"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"})
    assert reply.status_code == 200, reply.data
