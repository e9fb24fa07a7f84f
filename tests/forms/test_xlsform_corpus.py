"""pyxform's own 58 test workbooks (tests/forms/data/pyxform-workbooks) through our import.

Every workbook that pyxform (ODK's converter) converts must either import as
a form that check_definition accepts, or be refused with a problem naming a
feature Sotay does not have (docs/forms.md lists them); nothing may crash.
The counts are printed (run with -s to see them) and the goal is 80 % of the
workbooks pyxform converts.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from forms.definition import check_definition
from forms.xlsform import import_xlsform

pyxform = pytest.importorskip("pyxform.xls2xform")

CORPUS = Path(__file__).with_name("data") / "pyxform-workbooks"
WORKBOOKS = sorted(p for p in CORPUS.glob("*/*") if p.suffix in (".xls", ".xlsx", ".xlsm"))
# Refusals that name something Sotay does not do (docs/forms.md, "Not supported"), or an
# expression ODK itself cannot run (pyxform does not check them; ODK Validate does).
REFUSALS = {"unsupported_type", "unsupported_function", "unsupported_sheet",
            "expression_syntax", "duplicate_choice"}
# What we import today, of the 50 workbooks pyxform converts: a floor against regressions.
IMPORTED_AT_LEAST = 38
GOAL = 0.8


def pyxform_converts(path: Path) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pyxform.convert(xlsform=str(path), validate=False, pretty_print=False)
        except Exception:  # pyxform refuses it: its message is its own business
            return False
    return True


def test_the_corpus_is_all_there():
    assert len(WORKBOOKS) == 58


def test_pyxform_workbooks_import_or_name_what_sotay_lacks():
    converted, imported, refused = [], [], {}
    for path in WORKBOOKS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl on extensions it drops
            result = import_xlsform(path)
        if not pyxform_converts(path):
            continue
        converted.append(path.name)
        if result.definition is not None:
            assert check_definition(result.definition) == [], path.name
            imported.append(path.name)
        else:
            codes = {problem.code for problem in result.problems}
            refused[path.name] = sorted(codes)
            assert codes & REFUSALS, (path.name, [str(p) for p in result.problems])
    share = len(imported) / len(converted)
    print(f"\npyxform converts {len(converted)} of {len(WORKBOOKS)} workbooks; "
          f"Sotay imports {len(imported)} of them ({share:.0%}); refused:")
    for name, codes in sorted(refused.items()):
        print(f"  {name}: {', '.join(codes)}")
    print(f"goal: pyxform_workbooks_imported = {share:.2f} (goal >= {GOAL}) "
          f"{'ok' if share >= GOAL else 'short'}")
    assert len(converted) == 50
    assert len(imported) >= IMPORTED_AT_LEAST


@pytest.mark.parametrize("path", WORKBOOKS, ids=lambda p: p.name)
def test_no_workbook_crashes_the_import(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = import_xlsform(path)
    assert result.definition is not None or result.problems
    for problem in result.problems + result.warnings:
        assert problem.vi and problem.en and problem.vi != problem.en


def test_a_loop_becomes_a_group_per_choice():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = import_xlsform(CORPUS / "example_xls" / "loop.xls")
    loop = next(f for f in result.definition["fields"] if f["name"] == "loop_toilet_types")
    first = loop["fields"][0]
    assert first["name"] == "loop_toilet_types_pit_latrine_with_slab"
    assert first["fields"][0]["name"] == "number_pit_latrine_with_slab"
    assert first["fields"][0]["label"] == {
        "en": "How many Pit latrine with slab are on the premises?"}
    assert len(loop["fields"]) == len(result.definition["choices"]["toilet_type"])
