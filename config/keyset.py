"""Keyset pages for lists that grow without bound (the signal log, orders): newest first
on (a timestamp, id) over an (organization, -timestamp) index, so a page costs the same at
any depth and nothing ever counts the whole table. The cursor is opaque to people; one
that is not ours (a hand-edited URL) gives the first page, never a 500."""

import base64
import binascii
import uuid
from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone


def keyset_page(
    queryset: QuerySet, *, field: str, cursor: str | None, size: int
) -> tuple[list, str | None]:
    """``size`` rows of ``queryset`` (already ordered by ``-field, -id``) after ``cursor``,
    and the next page's cursor (None on the last page)."""
    after = _decode(cursor) if cursor else None
    if after is not None:
        stamp, pk = after
        queryset = queryset.filter(Q(**{f"{field}__lt": stamp}) | Q(**{field: stamp, "id__lt": pk}))
    rows = list(queryset[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, (_encode(getattr(rows[-1], field), rows[-1].id) if more else None)


def _encode(stamp: datetime, pk) -> str:
    raw = f"{stamp.isoformat()}|{pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, uuid.UUID] | None:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, _, pk = base64.urlsafe_b64decode(padded.encode()).decode().partition("|")
        moment = datetime.fromisoformat(stamp)
        return (moment, uuid.UUID(pk)) if moment.tzinfo else None
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def within_days(queryset: QuerySet, *, field: str, since: date | None, until: date | None):
    """``queryset`` narrowed to ``field`` on the days ``since`` to ``until`` (both included,
    in the current time zone)."""
    if since:
        queryset = queryset.filter(**{f"{field}__gte": day_start(since)})
    if until:
        queryset = queryset.filter(**{f"{field}__lt": day_start(until + timedelta(days=1))})
    return queryset


def day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())
