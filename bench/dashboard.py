"""Dashboard benchmark: server time of the pages that grow with a tenant's history (the
signal log, its first and a deep page, a signal's page, a paper account's page, the
orders and P&L pages, a subscription's page and its preview) with
100,000 signals and 10,000 orders in the tenant, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
    .venv/bin/python bench/dashboard.py [--signals 100000] [--orders 10000] [--requests 200] \
        [--database tr_benchdash]

It (re)creates its own database (--database, tr_benchdash unless told: never one anyone
else uses), fills it with
bulk inserts, then requests each page in-process through Django's full request path
(middleware, session login, template rendering; no HTTP socket: "server time") and prints
p50 / p95 in ms and the SQL queries per page.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

from harness import create_schema, db_url, recreate_database

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "tr_benchdash"


def _fill(signals: int, orders: int):
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from accounts.models import Membership, Organization, Role, User
    from brokers.models import BrokerAccount, LedgerEntry, Order
    from signals.models import Signal, SignalResult
    from strategies.models import Strategy, Subscription

    org = Organization.objects.create(name="Bench", slug="bench")
    user = User.objects.create_user(email="bench@example.com")  # force_login: no password
    Membership.objects.create(organization=org, user=user, role=Role.OWNER)
    account = BrokerAccount.objects.create(organization=org, name="Paper")
    strategy = Strategy.objects.create(organization=org, name="S")
    subscription = Subscription.objects.create(organization=org, strategy=strategy, account=account)
    start = timezone.now() - timedelta(days=30)
    step = timedelta(days=30) / signals
    rows = [
        Signal(
            organization=org,
            dialect="traderspost",
            strategy=strategy,
            ticker="AAPL",
            action="buy" if i % 2 else "sell",
            received_at=start + i * step,
            status="REJECTED" if i % 10 == 0 else "COMPLETED",
            message_code="invalid-action" if i % 10 == 0 else "",
            intent={"ticker": "AAPL", "price": "190"},
        )
        for i in range(signals)
    ]
    Signal.objects.bulk_create(rows, batch_size=5000)
    ordered = [s for s in rows if s.status == "COMPLETED"][-orders:]
    Order.objects.bulk_create(
        [
            Order(
                organization=org,
                account=account,
                signal=s,
                subscription=subscription,
                leg="entry",
                symbol="AAPL",
                side=s.action,
                quantity=Decimal("1"),
                client_order_id=f"bench-{s.id}",
                status="filled",
                filled_quantity=Decimal("1"),
                filled_avg_price=Decimal("190.1"),
                created_at=s.received_at,
                filled_at=s.received_at,
            )
            for s in ordered
        ],
        batch_size=5000,
    )
    # Every sell closes one share: a trade for the P&L pages (won or lost by turns).
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                organization=org,
                account=account,
                client_order_id=f"bench-{s.id}",
                symbol="AAPL",
                side=s.action,
                quantity=Decimal("1"),
                price=Decimal("190.1"),
                closed_quantity=Decimal("1" if s.action == "sell" else "0"),
                realized_pnl=Decimal(("3" if i % 3 else "-2") if s.action == "sell" else "0"),
                cash_after=Decimal("100000"),
                filled_at=s.received_at,
            )
            for i, s in enumerate(ordered)
        ],
        batch_size=5000,
    )
    SignalResult.objects.bulk_create(
        [
            SignalResult(organization=org, signal=s, account=account, status="ordered")
            for s in ordered
        ],
        batch_size=5000,
    )
    return user, account, strategy, ordered[len(ordered) // 2]


def _measure(client, path: str, n: int) -> tuple[float, float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(path)  # warm: templates compiled, connection open
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    with CaptureQueriesContext(connection) as queries:
        client.get(path)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--signals", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database", default=DATABASE, help="the database it (re)creates")
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        parser.error("needs DATABASE_URL (PostgreSQL server)")
    recreate_database(args.database_url, args.database)
    os.environ.update(
        DATABASE_URL=db_url(args.database_url, args.database), DEBUG="false", REDIS_URL=""
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    create_schema()
    from django.test import Client

    from brokers.selectors import order_list_page
    from signals.selectors import signal_list_page

    t0 = time.perf_counter()
    user, account, strategy, signal = _fill(args.signals, args.orders)
    print(
        f"filled {args.signals} signals, {args.orders} orders in {time.perf_counter() - t0:.1f} s"
    )
    from django.db import connection

    with connection.cursor() as cursor:
        # What autovacuum does after a load this size; without statistics PostgreSQL
        # plans the log's first page as a sort of the whole tenant (~200 ms, not 0.5).
        cursor.execute("ANALYZE")
    client = Client()
    client.force_login(user)
    deep = signal_list_page(organization=account.organization)
    for _ in range(200):  # 200 pages back: 10,000 signals older than the newest
        deep = signal_list_page(organization=account.organization, cursor=deep.next_cursor)
    deep_orders = order_list_page(organization=account.organization)
    for _ in range(100):  # 100 pages back: 5,000 orders older than the newest
        deep_orders = order_list_page(
            organization=account.organization, cursor=deep_orders.next_cursor
        )
    since = (signal.received_at - timedelta(days=3)).date().isoformat()
    from strategies.models import Subscription

    subscription = Subscription.objects.get(account=account, strategy=strategy)
    preview = "preview-ticker=AAPL&preview-action=buy&preview-quantity=10&preview-price=190"
    pages = {
        "signals list (first page)": "/signals/",
        "signals list (page 201, keyset)": f"/signals/?after={deep.next_cursor}",
        "signals list (filter ticker+status)": "/signals/?ticker=AAPL&status=REJECTED",
        "a signal's page": f"/signals/{signal.id}/",
        "account page": f"/broker-accounts/{account.id}/",
        "home": "/",
        "orders (first page)": "/orders/",
        "orders (page 101, keyset)": f"/orders/?after={deep_orders.next_cursor}",
        "orders (filter ticker+side+date)": f"/orders/?ticker=AAPL&side=sell&since={since}",
        "account performance (90 days)": f"/broker-accounts/{account.id}/performance/",
        "strategy performance": f"/strategies/{strategy.id}/performance/",
        "subscription page": f"/subscriptions/{subscription.id}/",
        "subscription preview (buy 10 AAPL at 190)": (
            f"/subscriptions/{subscription.id}/preview/?{preview}"
        ),
    }
    print(f"{'page':40} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}")
    for name, path in pages.items():
        p50, p95, queries = _measure(client, path, args.requests)
        print(f"{name:40} {p50:8.1f} {p95:8.1f} {queries:8d}")
    for name, path in {
        f"orders CSV ({args.orders:,} rows)": "/orders/export.csv",
        f"signals CSV ({args.signals:,} rows)": "/signals/export.csv",
    }.items():
        seconds, size = _download(client, path)
        print(f"{name:40} {seconds * 1000:8.0f} ms for the whole download, {size / 1e6:.1f} MB")


def _download(client, path: str) -> tuple[float, int]:
    """Time to stream a whole CSV download (once: it is not a page people reload)."""
    t0 = time.perf_counter()
    response = client.get(path)
    assert response.status_code == 200 and response.streaming, path
    size = sum(len(chunk) for chunk in response.streaming_content)
    return time.perf_counter() - t0, size


if __name__ == "__main__":
    main()
