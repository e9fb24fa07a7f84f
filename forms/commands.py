"""The `sotay forms ...` commands: check a definition, convert XLSForm workbooks.

`forms_cli` is a click group the server's CLI attaches as `sotay forms`.
Every problem is printed with its JSON path (or sheet and row) in Vietnamese
and English; the exit status is 1 when there is any.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from forms.definition import Problem, check_definition, problem
from forms.xlsform import export_xlsform, import_xlsform


def load_definition(path: Path) -> tuple[dict | None, list[Problem]]:
    """Read and check a definition file: the definition when it has no problem, else
    None and every problem (unreadable JSON is one)."""
    try:
        defn = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, RecursionError, ValueError) as error:
        # ValueError: not JSON, or an integer of more digits than Python converts
        return None, [problem("$", "not_json", error=error)]
    problems = check_definition(defn)
    return (None, problems) if problems else (defn, [])


def report(problems: list, out=None) -> None:
    for item in problems:
        click.echo(str(item), file=out or sys.stderr)


@click.group("forms")
def forms_cli() -> None:
    """Form definitions: check, import and export (Biểu mẫu: kiểm tra, nhập, xuất)."""


@forms_cli.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def validate_command(file: Path) -> None:
    """Check FILE against the form format (Kiểm tra tệp định nghĩa biểu mẫu)."""
    defn, problems = load_definition(file)
    if defn is None:
        report(problems)
        click.echo(f"{len(problems)} lỗi / {len(problems)} problems", err=True)
        sys.exit(1)
    click.echo(f"Hợp lệ / valid: {defn['id']} {defn['version']}")


@forms_cli.command("import-xlsform")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the JSON definition here instead of standard output.")
@click.option("--subject", type=click.Choice(["household", "enterprise"]),
              help="Who the form surveys, whatever the settings sheet says "
                   "(default: its 'subject' setting, else household).")
def import_xlsform_command(file: Path, output: Path | None, subject: str | None) -> None:
    """Convert an XLSForm workbook (.xlsx, .xlsm, .xls) to a JSON definition (Nhập từ
    XLSForm)."""
    result = import_xlsform(file, subject=subject)
    report(result.warnings)
    if result.problems:
        report(result.problems)
        count = len(result.problems)
        click.echo(f"{count} lỗi, chưa tạo biểu mẫu / {count} problems, no form written", err=True)
        sys.exit(1)
    text = json.dumps(result.definition, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, "utf-8")
        click.echo(f"Đã ghi / written: {output}", err=True)


@forms_cli.command("export-xlsform")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Workbook to write (default: FILE with .xlsx).")
def export_xlsform_command(file: Path, output: Path | None) -> None:
    """Write the JSON definition FILE as an XLSForm workbook (Xuất ra XLSForm)."""
    defn, problems = load_definition(file)
    if defn is None:
        report(problems)
        sys.exit(1)
    target = output or file.with_suffix(".xlsx")
    export_xlsform(defn, target)
    click.echo(f"Đã ghi / written: {target}", err=True)
