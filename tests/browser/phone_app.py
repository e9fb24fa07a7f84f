"""Helpers the browser tests share: the remembered volunteer, installing a form
into the phone's local database, reading the phone's documents, making camera
photos with EXIF, and filling the shipped household survey like a volunteer."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

VOLUNTEER = {"username": "vol1", "role": "volunteer", "db": "userdb-766f6c31",
             "residential_group": "tdp03"}


def install_form(page, definition: dict) -> None:
    """Puts a published form into the phone's local forms database, as sync would."""
    page.evaluate(
        """async (def) => {
            const db = new PouchDB('sotay-forms');
            await db.put({_id: `form:${def.id}:${def.version}`, type: 'form', form_id: def.id,
                          version: def.version, definition: def,
                          published_at: '2026-11-01T00:00:00+07:00'});
        }""",
        definition,
    )


def local_docs_of(couch_db: str):
    """A reader of the documents of a volunteer's local database, by id prefix."""

    def read(page, prefix: str = "") -> list[dict]:
        return page.evaluate(
            """async ([name, prefix]) => {
                const db = new PouchDB(name);
                const res = await db.allDocs({include_docs: true, startkey: prefix,
                                              endkey: prefix + '\\uffff'});
                return res.rows.map((r) => r.doc);
            }""",
            [f"sotay-{couch_db}", prefix],
        )

    return read


local_docs = local_docs_of(VOLUNTEER["db"])


def wait_saved(page) -> None:
    page.wait_for_selector("#save-state[data-state=saved]")


def fill_sample_household_page(page) -> None:
    """The first page of the sample form (tests/browser/sample_form.json)."""
    page.fill("#f-address", "12 Trần Hưng Đạo")
    page.select_option("#f-residential_group", "tdp03")
    page.check("input[name=f-fibre][value=yes]")
    page.fill("#f-size", "3")
    wait_saved(page)


def add_photo_and_finalise(page, photo: Path) -> dict:
    """On a form's evidence page: the photo, then Finalise; the finalised survey."""
    page.set_input_files("#f-evidence_photo", photo)
    page.wait_for_selector(".photo img")
    wait_saved(page)
    page.click("#finalise")
    page.wait_for_selector(".survey[data-state=final]")
    [survey] = local_docs(page, "survey:")
    return survey


def make_photo(path: Path, size: tuple[int, int] = (4000, 3000)) -> Path:
    """A JPEG with camera EXIF: capture time 2026-11-20 09:15:30, GPS in Ninh Bình."""
    from PIL import Image, ImageDraw
    from PIL.TiffImagePlugin import IFDRational

    image = Image.new("RGB", size, (120, 160, 200))
    draw = ImageDraw.Draw(image)
    for x in range(0, size[0], 97):
        draw.line([(x, 0), (size[0] - x, size[1])], fill=(x % 255, 90, 200 - x % 200), width=9)
    exif = Image.Exif()
    exif[0x0110] = "Sotay test camera"
    exif.get_ifd(0x8769)[0x9003] = "2026:11:20 09:15:30"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (IFDRational(20), IFDRational(25), IFDRational(30))
    gps[3] = "E"
    gps[4] = (IFDRational(106), IFDRational(10), IFDRational(0))
    image.save(path, quality=90, exif=exif)
    return path



HOUSEHOLD_MEMBERS = [
    # name, age, sex, smartphone, answers to the rest, skills tasks k1..k5
    ("Nguyễn Văn An", 52, "male", "own", "level2", "bank", "yes", "self", "yes", "class",
     ["two_factor", "official_apps"], ["done", "done", "done", "ignore_check", "needed_help"]),
    ("Trần Thị Bình", 48, "female", "shared", "level1", "ewallet", "no", "with_help",
     "learning", "community", ["no_otp_sharing"],
     ["done", "needed_help", "could_not", "tap_link", "done"]),
    ("Nguyễn Văn Cường", 76, "male", "none", "none", "none", "dont_know", "no", "no", "none",
     ["none"], None),
]


def log_in_phone(page, base: str, account) -> None:
    """Log in on the app's own form and wait for the first sync to bring the forms."""
    page.goto(f"{base}/app/")
    page.fill("input[name=username]", account.username)
    page.fill("input[name=password]", account.password)
    page.click("form.login button[type=submit]")
    page.wait_for_selector("a[data-form=household]")


def open_survey(page, form_id: str) -> None:
    page.click(f"a[data-form={form_id}]")
    page.wait_for_selector("#prev")


def choose(scope, name: str, value: str) -> None:
    scope.locator(f"[data-name={name}] input[value={value}]").check()


def fill_household_first_pages(page) -> None:
    """Consent and the household page of the shipped household form."""
    choose(page, "consent", "yes")
    page.click("#next")
    page.select_option("#f-residential_group", "tdp03")
    page.fill("#f-address", "Số 12 đường Trần Hưng Đạo")
    page.fill("#f-head_name", "Nguyễn Văn An")
    page.fill("#f-contact_phone", "0912345678")
    page.fill("#f-household_size", "3")
    choose(page, "fibre", "yes")
    wait_saved(page)
    page.click("#next")
    page.wait_for_selector(".repeat[data-name=members]")


def add_household_member(page, member: tuple) -> str:
    (name, age, sex, smartphone, vneid, payment, signature, service, certified, training,
     safety, tasks) = member
    page.click(".repeat[data-name=members] .add-row")
    row = page.locator(".repeat[data-name=members] .row").last
    row.locator("[data-name=name] input").fill(name)
    row.locator("[data-name=age] input").fill(str(age))
    choose(row, "sex", sex)
    choose(row, "smartphone", smartphone)
    choose(row, "vneid", vneid)
    choose(row, "payment_account", payment)
    choose(row, "digital_signature", signature)
    choose(row, "online_public_service", service)
    choose(row, "vneid_certified", certified)
    choose(row, "skills_training", training)
    for value in safety:
        choose(row, "safety_practices", value)
    for index, task in enumerate(tasks or [], start=1):
        choose(row, f"k{index}", task)
    wait_saved(page)
    return row.get_attribute("data-row")


def finish_household(page, photo: Path) -> None:
    """The evidence page: photo and a note, then finalise."""
    page.click("#next")
    page.set_input_files("#f-evidence_photo", photo)
    page.wait_for_selector(".photo img")
    page.fill("#f-volunteer_note", "Hộ gia đình hợp tác tốt.")
    wait_saved(page)
