"""Exports of the campaign totals for the ward's annual report."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from messages import both
from server.actions.indicators import ALL_GROUPS, IndicatorRow

COLUMNS = ("indicator", "number", "indicator_vi", "indicator_en", "residential_group",
           "numerator", "denominator", "percent")


def totals_csv(rows: Iterable[IndicatorRow]) -> Iterator[str]:
    """CSV lines, UTF-8 with a byte-order mark so Excel shows the Vietnamese right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow((row.key, row.number, row.vi, row.en,
                         both("server.exports.whole_ward") if row.residential_group == ALL_GROUPS
                         else row.residential_group,
                         row.numerator, row.denominator,
                         "" if row.percent is None else f"{row.percent:.1f}"))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()
