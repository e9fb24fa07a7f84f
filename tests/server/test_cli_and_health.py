"""Accounts from the command line, and /healthz."""

from __future__ import annotations

from server import services
from sync.couch import userdb_name


def test_users_add_creates_a_volunteer_with_a_private_database(app):
    result = app.test_cli_runner().invoke(args=["users", "add", "lan-tdp7", "--role", "volunteer",
                                          "--group", "tdp07"])
    assert result.exit_code == 0, result.output
    assert "mật khẩu / password:" in result.output
    with app.app_context():
        couch = services.couch()
        security = couch.security(userdb_name("lan-tdp7"))
    assert security["members"]["names"] == ["lan-tdp7"]


def test_users_add_twice_is_a_clear_error(app):
    runner = app.test_cli_runner()
    runner.invoke(args=["users", "add", "minh", "--role", "reviewer", "--password",
                            "long-enough-pw"])
    result = runner.invoke(args=["users", "add", "minh", "--role", "reviewer",
                                     "--password", "long-enough-pw"])
    assert result.exit_code != 0
    assert "Tên đăng nhập đã tồn tại" in result.output and "username is taken" in result.output


def test_healthz_reports_the_parts(client, volunteer):
    reply = client.get("/healthz")
    body = reply.get_json()
    assert reply.status_code == 200, body
    assert body["sql"]["ok"] and body["couchdb"]["ok"]
    assert body["ingest"]["lag_changes"] >= 0


def test_login_api_errors_are_bilingual(client):
    reply = client.post("/api/session", json={"username": "nobody", "password": "x"})
    assert reply.status_code == 401
    error = reply.get_json()["error"]
    assert error["code"] == "401.1" and error["vi"] and error["en"]
