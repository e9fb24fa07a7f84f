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

from forms.definition import Problem, check_definition


def load_definition(path: Path) -> tuple[dict | None, list[Problem]]:
    """Read a definition file, turning unreadable JSON into a problem."""
    try:
        return json.loads(path.read_text("utf-8")), []
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        return None, [Problem("$", "not_json", f"Tệp không phải JSON hợp lệ: {error}",
                              f"The file is not valid JSON: {error}")]


def report(problems: list, out=None) -> None:
    for problem in problems:
        click.echo(str(problem), file=out or sys.stderr)


@click.group("forms")
def forms_cli() -> None:
    """Form definitions: check, import and export (Biểu mẫu: kiểm tra, nhập, xuất)."""


@forms_cli.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def validate_command(file: Path) -> None:
    """Check FILE against the form format (Kiểm tra tệp định nghĩa biểu mẫu)."""
    defn, problems = load_definition(file)
    if defn is not None:
        problems = check_definition(defn)
    if problems:
        report(problems)
        click.echo(f"{len(problems)} lỗi / {len(problems)} problems", err=True)
        sys.exit(1)
    click.echo(f"Hợp lệ / valid: {defn['id']} {defn['version']}")
