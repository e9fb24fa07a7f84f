"""Logging in and out in Chromium on the real server, under its Content-Security-Policy
(the `phone` and `office` fixtures fail a test on any violation): the office pages
with their form tokens, and the phone told plainly when wrong passwords are limited."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.test_flow import log_in_office


def test_office_logs_in_looks_around_and_logs_out(live_server, reviewer, office):
    base = live_server.url
    desk = office.new_page()
    log_in_office(desk, base, reviewer)
    desk.wait_for_url(f"{base}/review")
    for path in ("/review/duplicates", "/review/quarantine", "/dashboard"):
        desk.goto(f"{base}{path}")
        expect(desk.locator("header form button")).to_contain_text(reviewer.username)
    assert desk.evaluate("getComputedStyle(document.querySelector('header')).display") == "flex"
    desk.click("header form button")
    desk.wait_for_url(f"{base}/login")
    desk.goto(f"{base}/review")
    desk.wait_for_url(f"{base}/login?next=**")


def test_office_wrong_password_then_limit(app, live_server, reviewer, office):
    desk = office.new_page()
    for _ in range(app.config["LOGIN_FAILURES_PER_ACCOUNT"]):
        log_in_office(desk, live_server.url, type(reviewer)(reviewer.username, "wrong", None))
        expect(desk.locator(".error")).to_contain_text("Wrong username or password")
    log_in_office(desk, live_server.url, reviewer)
    expect(desk.locator(".error")).to_contain_text("Too many failed logins")
    expect(desk.locator(".error")).to_contain_text("phút")


def test_phone_says_when_wrong_passwords_are_limited(app, live_server, volunteer, phone):
    page = phone.new_page()
    page.goto(f"{live_server.url}/app/")
    for attempt in range(app.config["LOGIN_FAILURES_PER_ACCOUNT"] + 1):
        page.fill("input[name=username]", volunteer.username)
        page.fill("input[name=password]", "wrong" if attempt else volunteer.password + "x")
        page.click("form.login button[type=submit]")
        expect(page.locator("#login-error")).not_to_be_empty()
    expect(page.locator("#login-error")).to_contain_text("quá nhiều lần")
    expect(page.locator("#login-error")).to_contain_text("phút")
