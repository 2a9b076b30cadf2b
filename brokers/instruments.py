"""The ticker database: loading the shipped fixture, and answering "which asset classes
does this symbol exist in" for ingestion (ticker-does-not-exist / invalid-asset-class).

Lookups are cached in the Django cache (Redis in production, shared by all workers) for a
few minutes: the table is shared by every tenant and changes only when it is reloaded, and
a webhook request should not pay a query for it.
"""

import contextlib
import hashlib
import json
import re
import time
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from brokers.models import AssetClass, Instrument

FIXTURE_PATH = Path(__file__).resolve().parent / "fixtures" / "instruments.json"
LOOKUP_CACHE_SECONDS = 300
# A second, per-process layer spares the Redis round trip for the handful of symbols a
# server sees all day; short-lived so a reload reaches every worker within a minute.
LOCAL_CACHE_SECONDS = 60
LOCAL_CACHE_SIZE = 4096
_local: dict[tuple[str, str], tuple[float, frozenset[str]]] = {}
_CACHE_PREFIX = "instrument-classes:v1:"
SYMBOL_MAX_LENGTH = 40  # Instrument.symbol's length: anything longer cannot exist
# Symbols are printable ASCII; anything else (NUL, surrogates) cannot exist either, and
# must not reach the database driver.
_SYMBOL_CHARS = re.compile(r"[\x20-\x7e]+")

# ESZ2026, ESZ26, ESZ6, MNQU2025: root + month code + year.
_FUTURE_CONTRACT = re.compile(r"^([A-Z0-9]{1,4}?)([FGHJKMNQUVXZ])(\d{1,2}|\d{4})$")
# TradingView continuous contracts: NQ1!, ES2!.
_FUTURE_CONTINUOUS = re.compile(r"^([A-Z0-9]{1,4})\d!$")
# OCC-style option symbols as the spec shows them: "SPY 250624C596", "AAPL250117P150.5".
_OPTION = re.compile(r"^([A-Z][A-Z.]{0,5})\s*\d{6}[CP]\d+(\.\d+)?$")


def instruments_load(path: str | Path | None = None) -> int:
    """Load or refresh instruments from the JSON fixture (a list of objects with symbol,
    asset_class, and optionally name, exchange, quantity_step, multiplier, active).
    Idempotent: rows are matched on (symbol, asset_class). Returns the number of rows."""
    rows = json.loads(Path(path or FIXTURE_PATH).read_text())
    wanted = {(r["symbol"].strip().upper(), r["asset_class"]): r for r in rows}
    existing = {(i.symbol, i.asset_class): i for i in Instrument.objects.all()}
    to_create, to_update = [], []
    for key, row in wanted.items():
        instrument = existing.get(key) or Instrument(symbol=key[0], asset_class=key[1])
        _apply(instrument, row)
        (to_update if instrument.pk else to_create).append(instrument)
    fields = ["name", "exchange", "quantity_step", "multiplier", "active"]
    with transaction.atomic():
        Instrument.objects.bulk_create(to_create, batch_size=500)
        Instrument.objects.bulk_update(to_update, fields, batch_size=500)
    cache.delete_many([_cache_key(symbol) for symbol, _ in wanted])
    _local.clear()
    return len(wanted)


def instruments_refresh(infos, *, prune: bool = False) -> dict[str, int]:
    """Bring the ticker database in line with a broker's asset list (InstrumentInfo rows,
    brokers.adapters.base): new symbols added, known ones updated (name, exchange,
    quantity step, active = tradable). With ``prune``, symbols of the asset classes the
    list covers that it no longer names become inactive, so ``ticker-does-not-exist``
    follows what the broker trades. Returns counts: created, updated, deactivated."""
    wanted = {}
    for info in infos:
        if info.asset_class in AssetClass.values and info.symbol:
            wanted[(info.symbol.strip().upper()[:SYMBOL_MAX_LENGTH], info.asset_class)] = info
    classes = {asset_class for _, asset_class in wanted}
    existing = {
        (i.symbol, i.asset_class): i for i in Instrument.objects.filter(asset_class__in=classes)
    }
    to_create, to_update, to_deactivate = [], [], []
    for key, info in wanted.items():
        instrument = existing.get(key) or Instrument(symbol=key[0], asset_class=key[1])
        instrument.name = info.name[:200]
        instrument.exchange = info.exchange[:40]
        instrument.quantity_step = info.quantity_step
        instrument.active = info.tradable
        (to_update if instrument.pk else to_create).append(instrument)
    if prune:
        for key, instrument in existing.items():
            if key not in wanted and instrument.active:
                instrument.active = False
                to_deactivate.append(instrument)
    with transaction.atomic():
        Instrument.objects.bulk_create(to_create, batch_size=500)
        Instrument.objects.bulk_update(
            to_update, ["name", "exchange", "quantity_step", "active"], batch_size=500
        )
        Instrument.objects.bulk_update(to_deactivate, ["active"], batch_size=500)
    changed = [symbol for symbol, _ in wanted] + [i.symbol for i in to_deactivate]
    cache.delete_many([_cache_key(symbol) for symbol in changed])
    _local.clear()
    return {"created": len(to_create), "updated": len(to_update), "deactivated": len(to_deactivate)}


def _cache_key(symbol: str) -> str:
    # Hashed: a ticker is client input and may hold anything a cache key must not.
    return _CACHE_PREFIX + hashlib.sha256(symbol.encode("utf-8", "replace")).hexdigest()[:32]


def _apply(instrument: Instrument, row: dict) -> None:
    if row["asset_class"] not in AssetClass.values:
        raise ValueError(f"unknown asset class {row['asset_class']!r} for {row['symbol']}")
    instrument.name = row.get("name", "")
    instrument.exchange = row.get("exchange", "")
    instrument.quantity_step = Decimal(str(row.get("quantity_step", "1")))
    instrument.multiplier = Decimal(str(row.get("multiplier", "1")))
    instrument.active = bool(row.get("active", True))


def _candidates(symbol: str) -> dict[str, str | None]:
    """Symbols to look up for ``symbol``, each with the asset class it proves (None: the
    row's own class)."""
    found: dict[str, str | None] = {symbol: None}
    compact = symbol.replace("/", "").replace("-", "")
    if compact != symbol:
        found.setdefault(compact, AssetClass.CRYPTO)
    for pattern in (_FUTURE_CONTRACT, _FUTURE_CONTINUOUS):
        match = pattern.match(symbol)
        if match:
            found.setdefault(match.group(1), AssetClass.FUTURE)
    match = _OPTION.match(symbol)
    if match:
        found.setdefault(match.group(1), AssetClass.OPTION)
    return found


def _classes_from_db(symbol: str) -> list[str]:
    candidates = _candidates(symbol)
    rows = Instrument.objects.filter(symbol__in=list(candidates), active=True).values_list(
        "symbol", "asset_class"
    )
    classes = set()
    for found, asset_class in rows:
        proves = candidates[found]
        if proves is None:
            classes.add(asset_class)
        elif proves == AssetClass.OPTION and asset_class == AssetClass.STOCK:
            classes.add(AssetClass.OPTION)
        elif proves == asset_class:
            classes.add(asset_class)
    if AssetClass.STOCK in classes:
        classes.add(AssetClass.OPTION)  # options are traded on their underlying's ticker
    return sorted(classes)


def instrument_asset_classes(*, symbol: str) -> frozenset[str]:
    """The asset classes ``symbol`` (upper case) is known in: empty when it is not in the
    ticker database. Futures contracts and continuous symbols resolve through their root,
    option symbols through their underlying."""
    if len(symbol) > SYMBOL_MAX_LENGTH or not _SYMBOL_CHARS.fullmatch(symbol):
        return frozenset()
    key = _cache_key(symbol)
    local_key = (settings.CACHES["default"].get("KEY_PREFIX", ""), key)
    hit = _local.get(local_key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    try:
        cached = cache.get(key)
    except Exception:
        cached = None
    if cached is None:
        cached = _classes_from_db(symbol)
        # A cache outage costs a query per request, nothing more.
        with contextlib.suppress(Exception):
            cache.set(key, cached, LOOKUP_CACHE_SECONDS)
    classes = frozenset(cached)
    if len(_local) >= LOCAL_CACHE_SIZE:
        _local.clear()
    _local[local_key] = (time.monotonic() + LOCAL_CACHE_SECONDS, classes)
    return classes
