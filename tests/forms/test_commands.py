"""The `sotay forms` commands: validate, import-xlsform, export-xlsform."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner

from forms.commands import forms_cli

HOUSEHOLD = str(Path(__file__).resolve().parents[2] / "forms" / "definitions" / "household.json")


def run(*args: str):
    return CliRunner().invoke(forms_cli, list(args))


def test_it_is_a_click_group_named_forms():
    assert isinstance(forms_cli, click.Group)
    # The server's CLI adds its own `publish` to this group when it is imported.
    assert {"validate", "import-xlsform", "export-xlsform"} <= set(forms_cli.commands)


def test_validate_a_good_form(household, tmp_path):
    path = tmp_path / "h.json"
    path.write_text(json.dumps(household, ensure_ascii=False), "utf-8")
    result = run("validate", str(path))
    assert result.exit_code == 0
    assert "household 2026.1" in result.output


def test_validate_reports_every_problem_in_both_languages(household, tmp_path):
    household["fields"][1]["relevant"] = {"==": [{"var": "nobody"}, 1]}
    household["fields"][1]["choices"] = "no_such_list"
    path = tmp_path / "h.json"
    path.write_text(json.dumps(household), "utf-8")
    result = run("validate", str(path))
    assert result.exit_code == 1
    assert "$.fields[1].relevant: [unknown_field]" in result.output
    assert "không tồn tại" in result.output and "does not exist" in result.output
    assert "$.fields[1].choices: [unknown_choice_list]" in result.output


def test_validate_broken_json(tmp_path):
    path = tmp_path / "h.json"
    path.write_text('{"id": ', "utf-8")
    result = run("validate", str(path))
    assert result.exit_code == 1
    assert "not_json" in result.output and "không phải JSON" in result.output


def test_validate_absurdly_nested_json(tmp_path):
    path = tmp_path / "h.json"
    path.write_text("[" * 100_000 + "]" * 100_000, "utf-8")
    result = run("validate", str(path))
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_export_then_import(tmp_path, household):
    workbook, out = tmp_path / "h.xlsx", tmp_path / "back.json"
    assert run("export-xlsform", HOUSEHOLD, "-o", str(workbook)).exit_code == 0
    result = run("import-xlsform", str(workbook), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text("utf-8")) == household


def test_import_prints_json_without_output_option(tmp_path, household):
    workbook = tmp_path / "h.xlsx"
    run("export-xlsform", HOUSEHOLD, "-o", str(workbook))
    result = CliRunner().invoke(forms_cli, ["import-xlsform", str(workbook)])
    assert json.loads(result.stdout) == household


def test_import_a_bad_workbook(tmp_path):
    path = tmp_path / "bad.xlsx"
    path.write_bytes(b"PK\x03\x04 not really")
    result = run("import-xlsform", str(path))
    assert result.exit_code == 1
    assert "not_xlsx" in result.output and "Không đọc được" in result.output


def test_import_a_workbook_without_settings_with_a_subject(tmp_path):
    """No settings sheet: id and title from the file name, version from its date, the
    subject from --subject; each default is a warning on standard error."""
    source = Path(__file__).with_name("data") / "pyxform-workbooks" / "example_xls" / "gps.xls"
    workbook = tmp_path / "Giếng nước.xls"
    workbook.write_bytes(source.read_bytes())
    out = tmp_path / "form.json"
    result = run("import-xlsform", str(workbook), "--subject", "enterprise", "-o", str(out))
    assert result.exit_code == 0, result.output
    defn = json.loads(out.read_text("utf-8"))
    assert (defn["id"], defn["subject"]) == ("gieng_nuoc", "enterprise")
    assert defn["title"] == {"en": "Giếng nước"} and defn["languages"] == ["en"]
    for code in ("default_form_id", "default_version", "default_title",
                 "default_language_guessed"):
        assert code in result.stderr
    assert "default_subject" not in result.stderr
    assert run("validate", str(out)).exit_code == 0
