"""Streaming CSV downloads: rows are written as the database hands them over, so an
export of the whole history never sits in memory, and every text cell is made safe to
open in a spreadsheet."""

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal

from django.http import StreamingHttpResponse

# A spreadsheet runs a cell starting with one of these as a formula ("CSV injection",
# OWASP); tab and carriage return too, since some programs strip them first.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str | Decimal | int:
    """The value as a CSV cell: text that a spreadsheet would run as a formula gets a
    leading apostrophe (shown as text, never executed). Numbers we produce stay numbers,
    so a negative P&L still sums; None is an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal | int | float):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    """csv.writer's file: hands each line back instead of storing it."""

    def write(self, value: str) -> str:
        return value


def csv_response(
    *, filename: str, header: list[str], rows: Iterable[list]
) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([safe_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    # An export is the tenant's data: never kept by a shared cache.
    response["Cache-Control"] = "private, no-store"
    return response
