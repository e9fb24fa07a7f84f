"""What an outside trial found on a volunteer's first day (issue 19, part E):
a tap on "+ form" leaves no empty draft, storage full is said in words,
the sync badge counts surveys, logging out warns of unsynced work, the
consent page offers Next, a chosen answer does not look like an error, the
note is a multi-line box, a long survey has a page jumper and a draft
reopens at its page, and a finalised survey can be corrected until it is
sent."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from tests.browser.phone_app import (
    ROOT,
    add_photo_and_finalise,
    choose,
    fill_household_first_pages,
    fill_sample_household_page,
    install_form,
    local_docs,
    make_photo,
    open_survey,
    wait_saved,
)

HOUSEHOLD = json.loads((ROOT / "forms/definitions/household.json").read_text("utf-8"))
# The colours of an answer in error (app.css: --red and the error badge).
ERROR_RED = "rgb(179, 38, 30)"
ERROR_PINK = "rgb(253, 236, 234)"


def start_sample(page) -> None:
    page.click("a[data-form=sample]")
    page.wait_for_selector("#f-address")


def finalise_sample(page, tmp_path) -> dict:
    """The sample survey filled (one member, one photo) and finalised: its doc."""
    start_sample(page)
    fill_sample_household_page(page)
    page.click("#next")
    page.click(".repeat[data-name=members] .add-row")
    row = page.locator(".repeat[data-name=members] .row").last
    row.locator("[data-name=name] input").fill("Đỗ Văn Em")
    row.locator("[data-name=age] input").fill("12")
    wait_saved(page)
    page.click("#next")
    return add_photo_and_finalise(page, make_photo(tmp_path / "house.jpg", (800, 600)))


def put_docs(page, docs: list[dict]) -> None:
    page.evaluate(
        "async (docs) => { await new PouchDB('sotay-userdb-766f6c31').bulkDocs(docs); }", docs)


def survey_doc(survey_id: str, status: str) -> dict:
    return {"_id": survey_id, "type": "survey", "form_id": "sample", "form_version": "1",
            "status": status, "answers": {"address": "Số 1"}, "volunteer": "vol1",
            "device_id": "d", "created_at": "2026-12-01T09:00:00+07:00",
            "updated_at": "2026-12-01T09:00:00+07:00", "gps": None}


# What PouchDB's IndexedDB adapter rejects with when the phone is full.
QUOTA_ERROR = """Object.assign(new Error('QuotaExceededError'),
    {status: 500, name: 'indexed_db_went_bad', reason: 'QuotaExceededError'})"""


def fill_storage(page, *methods: str) -> None:
    """These methods of the app's open database fail as on a full phone
    (through the hook store.js leaves: `sotayStores`)."""
    page.evaluate(
        f"""(methods) => {{
            for (const m of methods) sotayStores.data[m] = () => Promise.reject({QUOTA_ERROR});
        }}""",
        list(methods),
    )


def test_a_tap_on_new_and_back_leaves_no_empty_draft(app_page):
    page = app_page
    start_sample(page)
    page.click("#tabs a[data-tab=surveys]")
    page.wait_for_selector("a[data-form=sample]")
    expect(page.locator(".survey")).to_have_count(0)
    assert local_docs(page, "survey:") == []
    start_sample(page)
    page.fill("#f-address", "Số 5")
    wait_saved(page)
    page.click("#tabs a[data-tab=surveys]")
    expect(page.locator(".survey[data-state=draft]")).to_have_count(1)
    [survey] = local_docs(page, "survey:")
    assert survey["answers"]["address"] == "Số 5"


def test_a_new_survey_on_a_full_phone_says_so_never_a_blank_screen(app_page):
    page = app_page
    fill_storage(page, "put", "bulkDocs")
    start_sample(page)
    page.check("input[name=f-fibre][value=yes]")
    expect(page.locator("#save-state")).to_contain_text("KHÔNG lưu được", use_inner_text=True)


def test_a_screen_that_fails_to_open_says_why(app_page):
    page = app_page
    fill_storage(page, "allDocs")
    page.click("#tabs a[data-tab=progress]")
    error = page.locator("#screen-error .error")
    expect(error).to_contain_text("Bộ nhớ của máy đã đầy", use_inner_text=True)
    expect(page.locator("#screen-error button")).to_be_visible()


def test_the_sync_screen_shows_the_space_left(app_page):
    page = app_page
    page.click("#tabs a[data-tab=sync]")
    expect(page.locator("#space-left")).to_contain_text("Bộ nhớ còn trống", use_inner_text=True)


def test_the_sync_badge_counts_surveys_not_photos(app_page):
    page = app_page
    put_docs(page, [survey_doc("survey:a", "final"), survey_doc("survey:b", "final"),
                    {"_id": "photo:1", "type": "photo", "survey_id": "survey:a"},
                    {"_id": "photo:2", "type": "photo", "survey_id": "survey:b"},
                    survey_doc("survey:c", "draft")])
    page.reload()
    page.wait_for_selector(".survey")
    expect(page.locator("#unsynced-dot")).to_have_text("2", use_inner_text=True)
    page.click("#tabs a[data-tab=sync]")
    expect(page.locator("#unsynced-surveys")).to_have_text("2", use_inner_text=True)
    expect(page.locator("#unsynced-photos")).to_have_text("2", use_inner_text=True)


def test_logging_out_with_unsynced_work_warns(app_page):
    page = app_page
    put_docs(page, [survey_doc("survey:a", "final"), survey_doc("survey:b", "draft")])
    page.click("#tabs a[data-tab=sync]")
    with page.expect_event("dialog") as asked:
        page.click("#logout")
    assert "1 phiếu chưa đồng bộ và 1 phiếu nháp" in asked.value.message
    asked.value.dismiss()
    expect(page.locator("#logout")).to_be_visible()
    assert local_docs(page, "survey:")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#logout")
    expect(page.locator("input[name=username]")).to_be_visible()


def test_before_consent_the_first_page_offers_next_not_finalise(app_page):
    page = app_page
    install_form(page, HOUSEHOLD)
    page.reload()
    open_survey(page, "household")
    expect(page.locator("#next")).to_be_visible()
    expect(page.locator("#finalise")).to_have_count(0)
    page.click("#next")
    expect(page.locator("#form-message")).to_contain_text("Còn 1 câu", use_inner_text=True)
    choose(page, "consent", "no")
    expect(page.locator("#finalise")).to_be_visible()


def test_a_chosen_answer_does_not_look_like_an_error(app_page):
    page = app_page
    start_sample(page)
    page.check("input[name=f-fibre][value=yes]")
    chosen = page.locator("label.choice.checked")
    expect(chosen).to_have_count(1)
    style = chosen.evaluate(
        "(el) => { const s = getComputedStyle(el); return [s.borderTopColor, s.backgroundColor]; }")
    assert style[0] != ERROR_RED
    assert style[1] != ERROR_PINK


def test_the_note_is_multi_line_and_pages_can_be_jumped_to(app_page, tmp_path):
    page = app_page
    install_form(page, HOUSEHOLD)
    page.reload()
    open_survey(page, "household")
    fill_household_first_pages(page)
    last = page.locator("#jump option").last
    page.select_option("#jump", last.get_attribute("value"))
    note = page.locator("#f-volunteer_note")
    expect(note).to_be_visible()
    assert note.evaluate("(el) => el.tagName") == "TEXTAREA"
    note.fill("Dòng một.\nDòng hai.")
    wait_saved(page)
    [survey] = local_docs(page, "survey:")
    assert survey["answers"]["volunteer_note"] == "Dòng một.\nDòng hai."


def test_a_draft_reopens_at_the_page_it_was_left_on(app_page):
    page = app_page
    start_sample(page)
    fill_sample_household_page(page)
    page.click("#next")
    page.wait_for_selector(".repeat[data-name=members]")
    page.click("#tabs a[data-tab=surveys]")
    page.click(".survey[data-state=draft] > a")
    expect(page.locator(".repeat[data-name=members]")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/1$"))


def test_a_finalised_survey_can_be_corrected_until_it_is_sent(app_page, tmp_path):
    page = app_page
    survey = finalise_sample(page, tmp_path)
    page.click(".survey[data-state=final] > a")
    expect(page.locator("#final-note")).to_contain_text("chưa gửi", use_inner_text=True)
    expect(page.locator("fieldset.page[disabled]")).to_have_count(1)
    page.click("#reopen")
    expect(page.locator("fieldset.page[disabled]")).to_have_count(0)
    page.select_option("#jump", "0")
    page.fill("#f-address", "14 Trần Hưng Đạo")
    wait_saved(page)
    page.click("#tabs a[data-tab=surveys]")
    expect(page.locator(".survey[data-state=final]")).to_have_count(1)
    [corrected] = local_docs(page, "survey:")
    assert corrected["status"] == "final"
    assert corrected["answers"]["address"] == "14 Trần Hưng Đạo"
    assert corrected["_rev"] != survey["_rev"]

    # Left with an answer missing, it is a draft again, and says so on the list.
    page.click(".survey[data-state=final] > a")
    page.click("#reopen")
    page.select_option("#jump", "0")
    page.fill("#f-address", "")
    wait_saved(page)
    page.click("#tabs a[data-tab=surveys]")
    expect(page.locator(".survey[data-state=draft]")).to_have_count(1)


def test_a_sent_survey_says_why_it_cannot_be_changed(app_page, tmp_path):
    page = app_page
    survey = finalise_sample(page, tmp_path)
    page.evaluate(
        """async ([id, rev]) => {
            const db = new PouchDB('sotay-userdb-766f6c31');
            await db.put({_id: '_local/sotay-sync', last_sync_at: null,
                          pushed: {[id]: {rev, survey: id}}});
        }""",
        [survey["_id"], survey["_rev"]],
    )
    page.reload()  # the app reads its sync state once, then keeps it
    page.click(".survey[data-state=final] > a")
    expect(page.locator("#final-note")).to_contain_text("đã gửi lên phường", use_inner_text=True)
    expect(page.locator("#reopen")).to_have_count(0)


def test_a_long_members_page_has_an_index_to_each_member(app_page):
    page = app_page
    install_form(page, HOUSEHOLD)
    page.reload()
    open_survey(page, "household")
    fill_household_first_pages(page)
    names = ["Nguyễn Văn An", "Trần Thị Bình", "Nguyễn Văn Cường"]
    for name in names:
        page.click(".repeat[data-name=members] .add-row")
        page.locator(".repeat[data-name=members] .row").last.locator(
            "[data-name=name] input").fill(name)
    wait_saved(page)
    entries = page.locator(".repeat[data-name=members] .row-index button")
    expect(entries).to_have_text([f"Mục {i}: {name}" for i, name in enumerate(names, 1)],
                                 use_inner_text=True)
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    entries.first.click()
    first = page.locator(".repeat[data-name=members] .row").first.locator("> legend")
    expect(first).to_be_in_viewport()
