"""The screens around the form: the enterprise survey end to end on the
phone, my progress from local data, English one tap away, and an expired
session that asks for a login only when syncing and keeps the phone's data."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from forms.submission import validate_submission
from tests.browser.phone_app import (
    ROOT,
    add_photo_and_finalise,
    choose,
    install_form,
    local_docs_of,
    log_in_phone,
    make_photo,
    open_survey,
    wait_saved,
)

ENTERPRISE = json.loads((ROOT / "forms/definitions/enterprise.json").read_text("utf-8"))


def test_enterprise_survey_checks_the_tax_code_and_finalises(app_page, tmp_path):
    page = app_page
    install_form(page, ENTERPRISE)
    page.reload()
    open_survey(page, "enterprise")
    choose(page, "consent", "yes")
    page.click("#next")
    page.fill("#f-name", "Công ty TNHH Thành Nam")
    page.fill("#f-tax_code", "0100109105")
    tax = page.locator(".field[data-name=tax_code]")
    expect(tax.locator(".error")).not_to_have_text("", use_inner_text=True)
    page.fill("#f-tax_code", "0100109106")
    expect(tax.locator(".error")).to_have_text("", use_inner_text=True)
    page.select_option("#f-residential_group", "tdp05")
    page.fill("#f-address", "Số 3 phố Lê Lợi")
    page.fill("#f-respondent_name", "Trần Thị Hoa")
    choose(page, "sector", "trade_services")
    page.fill("#f-staff_total", "12")
    page.fill("#f-revenue", "8.5")
    page.fill("#f-capital", "2")
    page.click("#next")
    for name, value in [("einvoice", "tax_code_invoice"), ("digital_signature", "token"),
                        ("online_tax", "self"), ("online_social_insurance", "agent"),
                        ("econtract", "sometimes"), ("online_sales", "social_media"),
                        ("software", "accounting"), ("security", "antivirus"),
                        ("incident", "no"), ("innovation", "yes")]:
        choose(page, name, value)
    choose(page, "cashless", "none")
    expect(page.locator(".field[data-name=cashless_share]")).not_to_be_visible()
    choose(page, "cashless", "qr_transfer")
    cashless_error = page.locator(".field[data-name=cashless]").locator(".error")
    expect(cashless_error).not_to_have_text("", use_inner_text=True)
    page.locator("[data-name=cashless] input[value=none]").uncheck()
    page.fill("#f-cashless_share", "40")
    page.fill("#f-staff_trained", "20")
    page.click("#next")
    expect(page.locator(".field[data-name=staff_trained].invalid")).to_have_count(1)
    page.fill("#f-staff_trained", "6")
    page.click("#next")
    survey = add_photo_and_finalise(page, make_photo(tmp_path / "shop.jpg", (1200, 900)))
    answers = survey["answers"]
    assert answers["cashless"] == ["qr_transfer"]
    assert answers["cashless_share"] == 40
    assert validate_submission(ENTERPRISE, answers) == []


def put_survey(page, status: str, group: str, updated_at: str) -> None:
    page.evaluate(
        """async ([status, group, updated]) => {
            const db = new PouchDB('sotay-userdb-766f6c31');
            await db.put({_id: 'survey:' + Math.random().toString(16).slice(2), type: 'survey',
                          form_id: 'sample', form_version: '1', status,
                          answers: {residential_group: group}, volunteer: 'vol1',
                          device_id: 'd', created_at: updated, updated_at: updated, gps: null});
        }""",
        [status, group, updated_at],
    )


def test_my_progress_counts_this_week_and_by_group_offline(app_page):
    page = app_page
    now = datetime.now(UTC)
    long_ago = (now - timedelta(days=30)).isoformat()
    for status, group, when in [("final", "tdp03", now.isoformat()),
                                ("final", "tdp03", now.isoformat()),
                                ("final", "tdp05", long_ago),
                                ("draft", "tdp03", now.isoformat())]:
        put_survey(page, status, group, when)
    page.context.set_offline(True)
    page.click("#tabs a[data-tab=progress]")
    page.wait_for_selector("#progress-groups")
    expect(page.locator("#progress-week")).to_have_text("2", use_inner_text=True)
    expect(page.locator("#progress-total")).to_have_text("3", use_inner_text=True)
    expect(page.locator("#progress-drafts")).to_have_text("1", use_inner_text=True)
    rows = page.locator("#progress-groups tbody tr")
    # Regexes, not strings: to_have_text would normalise the tab between the cells.
    expect(rows).to_have_text([re.compile(r"^Tổ 3 \(được giao\)\t2$"), re.compile(r"^Tổ 5\t1$")],
                              use_inner_text=True)
    expect(page.locator("#progress-groups tr.assigned")).to_have_count(1)


def test_english_is_one_tap_away_and_remembered(app_page):
    page = app_page
    sync_tab = page.locator("#tabs a[data-tab=sync]")
    expect(sync_tab).to_have_text(re.compile(r"^Đồng bộ"), use_inner_text=True)
    page.click("#lang")
    expect(sync_tab).to_have_text(re.compile(r"^Sync"), use_inner_text=True)
    expect(page.locator("#lang")).to_have_text("Tiếng Việt", use_inner_text=True)
    page.reload()
    page.wait_for_selector("a[data-form=sample]")
    expect(page.locator("#title")).to_have_text("Survey notebook", use_inner_text=True)


def test_expired_session_asks_for_login_at_sync_and_keeps_local_data(
    live_server, volunteer, phone
):
    page = phone.new_page()
    log_in_phone(page, live_server.url, volunteer)
    open_survey(page, "household")
    choose(page, "consent", "yes")
    wait_saved(page)
    phone.clear_cookies()
    page.click("#tabs a[data-tab=sync]")
    page.click("#sync-button")
    page.wait_for_selector("body[data-sync=error-login]")
    expect(page.locator("#sync-message")).to_contain_text("Đăng nhập lại", use_inner_text=True)
    page.click("#login-again")
    expect(page.locator("input[name=username]")).to_have_value(volunteer.username)
    page.fill("input[name=password]", volunteer.password)
    page.click("form.login button[type=submit]")
    page.wait_for_selector("body[data-sync=done]")
    [draft] = local_docs_of(volunteer.couch_db)(page, "survey:")
    assert draft["answers"]["consent"] == "yes"
    expect(page.locator(".survey[data-state=draft]")).to_have_count(1)
