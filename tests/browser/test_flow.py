"""One household survey from the volunteer's phone to the ward's dashboard, on
the real server (waitress), PouchDB Server, ingest worker and Chromium:
log in online, open the app offline from its cache, fill the survey with three
members and a photo offline, reload mid-survey, finalise, come back online
and sync; the reviewer sends it back with a comment, the phone shows the
comment and the volunteer corrects it; the reviewer approves and the
dashboard's indicators move."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import expect

from tests.browser.phone_app import (
    HOUSEHOLD_MEMBERS,
    add_household_member,
    fill_household_first_pages,
    finish_household,
    local_docs_of,
    log_in_phone,
    make_photo,
    open_survey,
    wait_saved,
)
from tests.polling import wait_for

COMMENT = "Thiếu số điện thoại liên hệ, đề nghị bổ sung."


def cache_shell(page) -> None:
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")


def sync_on_phone(page) -> None:
    page.click("#tabs a[data-tab=sync]")
    page.wait_for_selector("#sync-button:not([disabled])")
    page.evaluate("delete document.body.dataset.sync")
    page.click("#sync-button")
    page.wait_for_selector("body[data-sync=done]", timeout=20_000)


def log_in_office(page, base: str, account) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", account.username)
    page.fill("input[name=password]", account.password)
    page.click("button[type=submit]")


def open_in_review(page, base: str, survey_id: str, rev: str) -> None:
    """Reload the queue until the ingest worker has stored this revision with its thumbnail."""
    def opened() -> bool:
        page.goto(f"{base}/review")
        row = page.locator(f"tr[data-survey='{survey_id}']")
        if not (row.count() and row.locator("img.thumb").count()):
            return False
        row.locator("a").first.click()
        return page.locator(f"#decide input[name=rev][value='{rev}']").count() > 0

    assert wait_for(opened, 10, every=0.3), f"{survey_id} {rev} not in the review queue"


def decide(page, decision: str, comment: str = "") -> None:
    page.fill("#decide textarea[name=comment]", comment)
    page.click(f"#decide button[value={decision}]")


def feedback_delivered(couch_server, account, survey: dict, rev: str, decision: str) -> None:
    """Wait until the worker has written the decision into the volunteer's database
    (it delivers decisions in its own loop): a sync before that brings nothing."""
    def delivered() -> bool:
        reply = requests.get(f"{couch_server.url}/{account.couch_db}/feedback:{survey['_id']}",
                             timeout=10)
        found = reply.json() if reply.status_code == 200 else {}
        return (found.get("survey_rev"), found.get("decision")) == (rev, decision)

    assert wait_for(delivered, 10), f"no {decision} feedback for {survey['_id']} {rev}"


def finalised_offline_and_synced(page, base: str, account, tmp_path) -> dict:
    """Log in online, then offline: fill three members and a photo, reload
    mid-survey, finalise; back online the app syncs by itself. The survey doc."""
    log_in_phone(page, base, account)
    cache_shell(page)
    local_docs = local_docs_of(account.couch_db)
    page.context.set_offline(True)
    page.reload()
    page.wait_for_selector("a[data-form=household]")
    open_survey(page, "household")
    fill_household_first_pages(page)
    rows = [add_household_member(page, m) for m in HOUSEHOLD_MEMBERS[:2]]
    page.reload()
    page.wait_for_selector(f".row[data-row='{rows[1]}']")
    expect(page.locator(".repeat[data-name=members] .row")).to_have_count(2)
    rows.append(add_household_member(page, HOUSEHOLD_MEMBERS[2]))
    finish_household(page, make_photo(tmp_path / "house.jpg"))
    page.click("#finalise")
    page.wait_for_selector(".survey[data-state=final]")
    [survey] = local_docs(page, "survey:")
    assert [m["_row"] for m in survey["answers"]["members"]] == rows

    page.click("#tabs a[data-tab=sync]")
    expect(page.locator("#unsynced-surveys")).to_have_text("1", use_inner_text=True)
    expect(page.locator("#unsynced-photos")).to_have_text("1", use_inner_text=True)
    page.click("#sync-button")
    page.wait_for_selector("body[data-sync=error-offline]")
    expect(page.locator("#sync-message")).to_contain_text("Không có mạng", use_inner_text=True)

    page.context.set_offline(False)  # the app syncs by itself when the connection returns
    page.wait_for_selector("body[data-sync=done]", timeout=20_000)
    expect(page.locator("#sync-message")).to_have_text(
        "Đồng bộ xong: đã gửi 1 phiếu và 1 ảnh.", use_inner_text=True)
    page.wait_for_selector("#unsynced-surveys:text-is('0')")
    expect(page.locator("#unsynced-photos")).to_have_text("0", use_inner_text=True)
    return survey


def test_household_survey_from_phone_to_dashboard(
    live_server, couch_server, ingest_worker, volunteer, reviewer, phone, office, tmp_path
):
    base = live_server.url
    page = phone.new_page()
    survey = finalised_offline_and_synced(page, base, volunteer, tmp_path)

    desk = office.new_page()
    log_in_office(desk, base, reviewer)
    desk.goto(f"{base}/dashboard")
    expect(desk.locator("#indicators")).to_have_count(0)
    open_in_review(desk, base, survey["_id"], survey["_rev"])
    decide(desk, "approved")
    desk.goto(f"{base}/dashboard")
    smartphone = desk.locator("tr[data-indicator=smartphone] td[data-group=tdp03]")
    expect(smartphone).to_have_text("33.3 % 1/3", use_inner_text=True)
    skills = desk.locator("tr[data-indicator=basic_skills] td[data-group=tdp03]")
    expect(skills).to_have_text("33.3 % 1/3", use_inner_text=True)

    feedback_delivered(couch_server, volunteer, survey, survey["_rev"], "approved")
    sync_on_phone(page)
    page.click("#tabs a[data-tab=surveys]")
    page.wait_for_selector(f".survey[data-id='{survey['_id']}'][data-state=approved]")


def test_sent_back_survey_is_corrected_on_the_phone(
    live_server, couch_server, ingest_worker, volunteer, reviewer, phone, office, tmp_path
):
    base = live_server.url
    page = phone.new_page()
    survey = finalised_offline_and_synced(page, base, volunteer, tmp_path)
    desk = office.new_page()
    log_in_office(desk, base, reviewer)
    open_in_review(desk, base, survey["_id"], survey["_rev"])
    decide(desk, "needs_correction", COMMENT)
    feedback_delivered(couch_server, volunteer, survey, survey["_rev"], "needs_correction")
    sync_on_phone(page)
    expect(page.locator("#sync-message")).to_have_text(
        re.compile(r"^Đồng bộ xong: không có phiếu mới để gửi\. Đã nhận [1-9]\d* cập nhật"),
        use_inner_text=True)
    page.click("#tabs a[data-tab=surveys]")
    card = page.locator(f".survey[data-id='{survey['_id']}']")
    card.locator(".badge.needs_correction").wait_for()
    expect(card.locator(".comment-text")).to_have_text(COMMENT, use_inner_text=True)
    card.locator("a.button").click()
    expect(page.locator(".form-head .comment-text")).to_have_text(COMMENT, use_inner_text=True)
    for _ in range(3):
        page.click("#next")
    page.fill("#f-volunteer_note", "Đã bổ sung số điện thoại 0912345678.")
    wait_saved(page)
    page.click("#finalise")
    page.wait_for_selector(f".survey[data-id='{survey['_id']}'][data-state=final]")
    sync_on_phone(page)
    [corrected] = local_docs_of(volunteer.couch_db)(page, "survey:")
    assert corrected["_id"] == survey["_id"] and corrected["_rev"] != survey["_rev"]

    open_in_review(desk, base, survey["_id"], corrected["_rev"])
    decide(desk, "approved")
    feedback_delivered(couch_server, volunteer, survey, corrected["_rev"], "approved")
    sync_on_phone(page)
    page.click("#tabs a[data-tab=surveys]")
    page.wait_for_selector(f".survey[data-id='{survey['_id']}'][data-state=approved]")


def test_drafts_stay_on_the_phone_until_finalised(
    live_server, couch_server, volunteer, phone, tmp_path
):
    def on_server() -> set[str]:
        reply = requests.get(f"{couch_server.url}/{volunteer.couch_db}/_all_docs", timeout=10)
        return {row["id"].split(":")[0] for row in reply.json()["rows"]} - {"_design/sotay"}

    page = phone.new_page()
    log_in_phone(page, live_server.url, volunteer)
    open_survey(page, "household")
    fill_household_first_pages(page)
    add_household_member(page, HOUSEHOLD_MEMBERS[0])
    finish_household(page, make_photo(tmp_path / "house.jpg", (1200, 900)))
    sync_on_phone(page)
    expect(page.locator("#unsynced-surveys")).to_have_text("0", use_inner_text=True)
    expect(page.locator("#drafts")).to_have_text("1", use_inner_text=True)
    assert on_server() == set()

    page.goto(f"{live_server.url}/app/#/")
    page.click(".survey[data-state=draft] > a")
    # The draft reopens at the page it was left on, the last one.
    expect(page).to_have_url(re.compile(r"/3$"))
    page.click("#finalise")
    page.wait_for_selector(".survey[data-state=final]")
    sync_on_phone(page)
    assert on_server() == {"survey", "photo"}
