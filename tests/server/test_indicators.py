"""Indicator arithmetic over approved answers (pure)."""

from __future__ import annotations

from server.actions.indicators import ALL_GROUPS, ENTERPRISE_INDICATORS, tally
from tests.server.helpers import household_answers, member


def cells(rows, key):
    return {r.residential_group: (r.numerator, r.denominator) for r in rows if r.key == key}


def test_household_indicators_count_adults_only_by_group():
    rows = tally([
        household_answers("tdp01", [member(40), member(14), member(67, skilled=False)]),
        household_answers("tdp02", [member(25, smartphone="shared")]),
    ])
    assert cells(rows, "basic_skills") == {"tdp01": (1, 2), "tdp02": (1, 1), ALL_GROUPS: (2, 3)}
    assert cells(rows, "smartphone") == {"tdp01": (2, 2), "tdp02": (0, 1), ALL_GROUPS: (2, 3)}
    assert cells(rows, "fibre")[ALL_GROUPS] == (2, 2)
    assert next(r for r in rows if r.key == "basic_skills" and
                r.residential_group == ALL_GROUPS).percent == 66.7


def test_enterprise_indicators():
    firms = [
        {"residential_group": "tdp01", "einvoice": "tax_code_invoice", "econtract": "no",
         "online_sales": ["none"], "software": ["accounting"], "staff_total": 10,
         "staff_trained": 4, "innovation": "yes"},
        {"residential_group": "tdp01", "einvoice": "no", "econtract": "no",
         "online_sales": ["none"], "software": ["none"], "staff_total": 5,
         "staff_trained": 9, "innovation": "no"},
    ]
    rows = tally(firms, ENTERPRISE_INDICATORS)
    assert cells(rows, "einvoice")["tdp01"] == (1, 2)
    assert cells(rows, "sme_digital_platform")["tdp01"] == (1, 2)
    assert cells(rows, "enterprise_staff_skills")["tdp01"] == (9, 15)
    assert cells(rows, "innovation")[ALL_GROUPS] == (1, 2)
