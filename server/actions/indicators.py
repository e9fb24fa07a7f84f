"""Campaign indicators by residential group, over approved surveys only.

Each indicator is a numerator over a denominator (CAMPAIGN.md gives the
official definitions and national targets). "Adult" is 15 and over, as the
national digital-transformation programme counts it; the ward can review
that age (CAMPAIGN.md marks it unconfirmed).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from server.actions.auth import Actor, require_role
from server.queries.submissions import stream_approved

ADULT_AGE = 15
ALL_GROUPS = "_all"


@dataclass(frozen=True)
class Indicator:
    key: str
    number: int
    vi: str
    en: str
    unit: str
    target: str
    counts: Callable[[dict], tuple[int, int]]


def _adults(answers: dict) -> list[dict]:
    members = answers.get("members") or []
    return [m for m in members if isinstance(m, dict) and isinstance(m.get("age"), int | float)
            and m["age"] >= ADULT_AGE]


def _adult_share(test: Callable[[dict], bool]) -> Callable[[dict], tuple[int, int]]:
    def counts(answers: dict) -> tuple[int, int]:
        adults = _adults(answers)
        return sum(1 for m in adults if test(m)), len(adults)
    return counts


def _household_share(test: Callable[[dict], bool]) -> Callable[[dict], tuple[int, int]]:
    return lambda answers: (1 if test(answers) else 0, 1)


INDICATORS: tuple[Indicator, ...] = (
    Indicator("smartphone", 1, "Người trưởng thành có điện thoại thông minh",
              "Adults with a smartphone", "persons", "80% 2025, 95% 2030",
              _adult_share(lambda m: m.get("smartphone") == "own")),
    Indicator("fibre", 2, "Hộ gia đình có Internet cáp quang", "Households with fibre",
              "households", "80% 2025", _household_share(lambda a: a.get("fibre") == "yes")),
    Indicator("payment_account", 3, "Người từ 15 tuổi có tài khoản thanh toán",
              "People 15+ with a payment account", "persons", "80% 2025",
              _adult_share(lambda m: m.get("payment_account") in ("bank", "ewallet", "both"))),
    Indicator("basic_skills", 6, "Người trưởng thành có kỹ năng số cơ bản",
              "Adults with basic digital skills", "persons", "Ninh Bình 80% 2025",
              _adult_share(lambda m: m.get("basic_skills") in (1, "1", True))),
    Indicator("vneid_certified", 7, "Người trưởng thành được xác nhận phổ cập kỹ năng số "
              "trên VNeID", "Adults certified on VNeID", "persons", "Ninh Bình 50% 2025",
              _adult_share(lambda m: m.get("vneid_certified") == "yes")),
    Indicator("online_public_service", 8, "Người trưởng thành sử dụng dịch vụ công trực tuyến",
              "Adults using online public services", "persons", "40% 2025, 70% 2030",
              _adult_share(lambda m: m.get("online_public_service") in ("self", "with_help"))),
    Indicator("vneid_level2", 9, "Người có tài khoản định danh điện tử mức độ 2",
              "People with a level-2 VNeID account", "persons", "—",
              _adult_share(lambda m: m.get("vneid") == "level2")),
)


def _picked(value: object) -> bool:
    """A select_multiple answer with something other than "none"."""
    return isinstance(value, list) and any(v != "none" for v in value)


def _trained_staff(answers: dict) -> tuple[int, int]:
    total, trained = answers.get("staff_total"), answers.get("staff_trained")
    if not isinstance(total, int) or not isinstance(trained, int) or total <= 0:
        return 0, 0
    return min(trained, total), total


ENTERPRISE_INDICATORS: tuple[Indicator, ...] = (
    Indicator("enterprise_staff_skills", 10, "Người lao động trong doanh nghiệp có kỹ năng số",
              "Enterprise workers with digital skills", "workers", "80% 2025, 100% 2026",
              _trained_staff),
    Indicator("sme_digital_platform", 11, "Doanh nghiệp nhỏ và vừa sử dụng nền tảng số "
              "(quy tắc đề xuất: hợp đồng điện tử, bán hàng trực tuyến hoặc phần mềm)",
              "SMEs using digital platforms (proposed rule: e-contracts, online sales or "
              "software)", "enterprises", ">50% 2025, >70% 2030",
              _household_share(lambda a: a.get("econtract") in ("often", "sometimes")
                               or _picked(a.get("online_sales")) or _picked(a.get("software")))),
    Indicator("econtract", 12, "Doanh nghiệp sử dụng hợp đồng điện tử",
              "Enterprises using e-contracts", "enterprises", ">80% 2025, 100% 2030",
              _household_share(lambda a: a.get("econtract") in ("often", "sometimes"))),
    Indicator("einvoice", 13, "Doanh nghiệp sử dụng hóa đơn điện tử",
              "Enterprises using e-invoices", "enterprises", "100%",
              _household_share(lambda a: a.get("einvoice") in ("tax_code_invoice",
                                                               "cash_register"))),
    Indicator("innovation", 14, "Doanh nghiệp có hoạt động đổi mới sáng tạo",
              "Enterprises with innovation activity", "enterprises", ">40% 2030 ⚠",
              _household_share(lambda a: a.get("innovation") == "yes")),
)


TARGETS = {ind.key: ind.target for ind in INDICATORS + ENTERPRISE_INDICATORS}


@dataclass(frozen=True)
class IndicatorRow:
    key: str
    number: int
    vi: str
    en: str
    residential_group: str
    numerator: int
    denominator: int

    @property
    def percent(self) -> float | None:
        return None if not self.denominator else round(100 * self.numerator / self.denominator, 1)


def tally(surveys: Iterable[dict],
          indicators: tuple[Indicator, ...] = INDICATORS) -> list[IndicatorRow]:
    """Indicator rows per residential group, plus the ward total (group `_all`)."""
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for answers in surveys:
        group = str(answers.get("residential_group") or "?")
        for indicator in indicators:
            numerator, denominator = indicator.counts(answers)
            for key in ((indicator.key, group), (indicator.key, ALL_GROUPS)):
                sums[key][0] += numerator
                sums[key][1] += denominator
    groups = sorted({group for _key, group in sums if group != ALL_GROUPS}) + [ALL_GROUPS]
    return [IndicatorRow(ind.key, ind.number, ind.vi, ind.en, group, *sums[(ind.key, group)])
            for ind in indicators for group in groups if (ind.key, group) in sums]


def household_indicators(actor: Actor) -> list[IndicatorRow]:
    require_role(actor, "reviewer", "admin")
    return tally(s.answers for s in stream_approved("household"))


def campaign_indicators(actor: Actor) -> list[IndicatorRow]:
    """Household and enterprise indicators, in the campaign's numbering."""
    rows = household_indicators(actor) + tally(
        (s.answers for s in stream_approved("enterprise")), ENTERPRISE_INDICATORS)
    return sorted(rows, key=lambda r: r.number)


def indicator_table(rows: list[IndicatorRow]) -> dict:
    """Rows grouped for display: one line per indicator, one column per residential group."""
    groups = sorted({r.residential_group for r in rows if r.residential_group != ALL_GROUPS})
    columns = groups + [ALL_GROUPS]
    lines: dict[str, dict] = {}
    for row in rows:
        line = lines.setdefault(row.key, {"key": row.key, "number": row.number, "vi": row.vi,
                                          "en": row.en, "target": TARGETS.get(row.key, ""),
                                          "cells": {}})
        line["cells"][row.residential_group] = row
    return {"columns": columns, "lines": list(lines.values())}
