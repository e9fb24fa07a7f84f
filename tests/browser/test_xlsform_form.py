"""A form imported from an XLSForm workbook on the phone: the form's own languages
(English and Swahili here, no Vietnamese), a label picture, and the types XLSForm
brings (time, barcode, acknowledge, hidden, or_other, a regex() constraint)."""

from __future__ import annotations

import openpyxl
from playwright.sync_api import expect

from forms.xlsform import import_xlsform
from tests.browser.phone_app import install_form, local_docs, wait_saved

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff"
       b"\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")


def imported_form(tmp_path) -> dict:
    (tmp_path / "pump.png").write_bytes(PNG)
    book = openpyxl.Workbook()
    survey = book.active
    survey.title = "survey"
    for row in [
        ["type", "name", "label::English (en)", "label::Swahili (sw)", "constraint",
         "media::image", "default"],
        ["time", "visit_time", "Visit time", "Wakati wa ziara"],
        ["barcode", "meter", "Meter code", "Nambari ya mita", "regex(., '^[0-9]{6}$')",
         "pump.png"],
        ["acknowledge", "ok", "I agree", "Nakubali"],
        ["hidden", "programme", None, None, None, None, "wash"],
        ["select_one water or_other", "water", "Water source", "Chanzo cha maji"],
    ]:
        survey.append(row)
    choices = book.create_sheet("choices")
    for row in [["list_name", "name", "label::English (en)", "label::Swahili (sw)"],
                ["water", "tap", "Tap", "Bomba"], ["water", "well", "Well", "Kisima"]]:
        choices.append(row)
    path = tmp_path / "water_point.xlsx"
    book.save(path)
    result = import_xlsform(path)
    assert result.problems == [], result.problems
    return result.definition


def test_an_imported_form_on_the_phone(app_page, tmp_path):
    page = app_page
    definition = imported_form(tmp_path)
    assert definition["languages"] == ["en", "sw"]
    install_form(page, definition)
    page.reload()
    page.click("a[data-form=water_point]")
    page.wait_for_selector("#f-visit_time")
    # No Vietnamese in the form: its first language, then the volunteer's choice.
    expect(page.locator("label[for=f-visit_time]")).to_contain_text("Visit time")
    page.select_option("#form-lang", "sw")
    expect(page.locator("label[for=f-visit_time]")).to_contain_text("Wakati wa ziara")
    image = page.locator(".field[data-name=meter] img.label-image")
    assert image.get_attribute("src").startswith("data:image/png;base64,")
    expect(page.locator(".field[data-name=programme]")).to_have_count(0)
    page.fill("#f-visit_time", "09:30")
    page.fill("#f-meter", "12ab")
    expect(page.locator(".field[data-name=meter] .error")).not_to_have_text("")
    page.fill("#f-meter", "123456")
    expect(page.locator(".field[data-name=meter] .error")).to_have_text("")
    page.check("#f-ok")
    page.check("input[name=f-water][value=other]")
    page.fill("#f-water_other", "Rain tank")
    wait_saved(page)
    [survey] = local_docs(page, "survey:")
    assert survey["answers"] == {"visit_time": "09:30", "meter": "123456", "ok": True,
                                 "programme": "wash", "water": "other",
                                 "water_other": "Rain tank"}
