"""The shipped household survey filled on a phone with no network: three
members and an evidence photo, a reload in the middle, finalised; and the
answers the phone finalises pass the server's own validation."""

from __future__ import annotations

import json

from playwright.sync_api import expect

from forms.submission import validate_submission
from tests.browser.phone_app import (
    HOUSEHOLD_MEMBERS,
    ROOT,
    add_household_member,
    fill_household_first_pages,
    finish_household,
    install_form,
    local_docs,
    make_photo,
    open_survey,
)

HOUSEHOLD = json.loads((ROOT / "forms/definitions/household.json").read_text("utf-8"))


def go_offline(page) -> None:
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    page.context.set_offline(True)


def test_household_survey_offline_with_reload_and_finalise(app_page, tmp_path):
    page = app_page
    install_form(page, HOUSEHOLD)
    go_offline(page)
    page.reload()
    open_survey(page, "household")
    fill_household_first_pages(page)
    rows = [add_household_member(page, m) for m in HOUSEHOLD_MEMBERS[:2]]

    page.reload()
    page.wait_for_selector(f".row[data-row='{rows[1]}']")
    expect(page.locator(".repeat[data-name=members] .row")).to_have_count(2)
    first = page.locator(f".row[data-row='{rows[0]}']")
    expect(first.locator("[data-name=name] input")).to_have_value("Nguyễn Văn An")
    expect(first.locator("[data-name=k4] input[value=ignore_check]")).to_be_checked()

    rows.append(add_household_member(page, HOUSEHOLD_MEMBERS[2]))
    third = page.locator(f".row[data-row='{rows[2]}']")
    expect(third.locator("[data-name=skills_check]")).not_to_be_visible()
    finish_household(page, make_photo(tmp_path / "house.jpg"))
    page.click("#finalise")
    page.wait_for_selector(".survey[data-state=final]")
    expect(page.locator(".survey .badge.unsynced")).to_have_count(1)

    [survey] = local_docs(page, "survey:")
    [photo] = local_docs(page, "photo:")
    answers = survey["answers"]
    assert survey["status"] == "final"
    assert [m["_row"] for m in answers["members"]] == rows
    assert [m["basic_skills"] for m in answers["members"]] == [1, 0, 0]
    assert answers["member_count"] == 3
    assert answers["evidence_photo"] == [photo["_id"]]
    assert "k1" not in answers["members"][2]
    assert validate_submission(HOUSEHOLD, answers) == []
