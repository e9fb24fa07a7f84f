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
    assert body["ingest"]["lag_databases"] >= 0


def test_login_api_errors_are_bilingual(client):
    reply = client.post("/api/session", json={"username": "nobody", "password": "x"})
    assert reply.status_code == 401
    error = reply.get_json()["error"]
    assert error["code"] == "401.1" and error["vi"] and error["en"]


def test_forms_publish_is_idempotent_and_versions_are_immutable(app, tmp_path):
    import json
    import secrets

    from forms.shipped import shipped_forms

    definition = next(f for f in shipped_forms() if f["id"] == "household")
    definition["id"] = form_id = f"cli_test_{secrets.token_hex(4)}"
    path = tmp_path / "form.json"
    path.write_text(json.dumps(definition, ensure_ascii=False), encoding="utf-8")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["forms", "publish", str(path)])
    assert result.exit_code == 0 and "published" in result.output, result.output
    result = runner.invoke(args=["forms", "publish", str(path)])
    assert result.exit_code == 0 and "already published" in result.output, result.output
    definition["title"]["en"] = "Changed without a new version"
    path.write_text(json.dumps(definition, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(args=["forms", "publish", str(path)])
    assert result.exit_code != 0 and "409.2" in result.output
    definition["version"] = "2026.2"
    path.write_text(json.dumps(definition, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(args=["forms", "publish", str(path)])
    assert result.exit_code == 0 and "published" in result.output, result.output
    with app.app_context():
        from server import services

        assert services.couch().get("forms", f"form:{form_id}:2026.2") is not None
        assert services.couch().get("forms", f"form:{form_id}:2026.1")["definition"]["title"][
            "en"] != "Changed without a new version"


def test_forms_publish_reports_a_bad_file_without_a_traceback(app, tmp_path):
    path = tmp_path / "form.json"
    runner = app.test_cli_runner()
    for text, code in (("null", "not_object"), ('{"id": ' + "9" * 5000 + "}", "not_json"),
                       ('{"id": "x", "fields": [{"type": {"a": 1}}]}', "schema_")):
        path.write_text(text, encoding="utf-8")
        result = runner.invoke(args=["forms", "publish", str(path)])
        assert result.exit_code == 1 and f"[{code}" in result.output, result.output
        assert "not published" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
