"""A network broker stood in for over real HTTP on loopback: a tiny order server (fills at
once, after a delay, counting the requests in flight) and the adapter that speaks to it.
The adapter touches no database, as a real broker's adapter does not."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from brokers.adapters.base import (
    AccountSnapshot,
    BrokerAdapter,
    OrderRequest,
    OrderUpdate,
    TransientBrokerError,
)


class OrderServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, delay: float):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay = delay
        self.orders: dict[str, dict] = {}
        self.posts: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: OrderServer

    def log_message(self, *args):  # quiet
        pass

    def _answer(self, status: int, body: dict | None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server
        with server.lock:
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
        try:
            time.sleep(server.delay)
            with server.lock:
                server.posts.append(body["client_order_id"])
                order = server.orders.setdefault(
                    body["client_order_id"],
                    {**body, "id": f"lb-{len(server.orders) + 1}", "status": "filled"},
                )
        finally:
            with server.lock:
                server.in_flight -= 1
        self._answer(200, order)

    def do_GET(self):  # noqa: N802
        client_order_id = self.path.rsplit("/", 1)[-1]
        order = self.server.orders.get(client_order_id)
        self._answer(200 if order else 404, order)


class LoopbackAdapter(BrokerAdapter):
    url = ""  # set per test

    def _call(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise TransientBrokerError(f"loopback broker answered {exc.code}") from exc
        except OSError as exc:  # refused, reset, timed out: the order may or may not exist
            raise TransientBrokerError(f"loopback broker unreachable: {exc}") from exc

    def get_account(self) -> AccountSnapshot:
        return AccountSnapshot(Decimal("100000"), Decimal("100000"), Decimal("100000"))

    def get_position(self, symbol: str):
        return None

    def get_quote(self, symbol: str):
        return None

    def submit_order(self, request: OrderRequest) -> OrderUpdate:
        body = {
            "client_order_id": request.client_order_id,
            "symbol": request.symbol,
            "side": request.side,
            "qty": str(request.quantity),
            "price": str(request.reference_price),
        }
        return _update(self._call("POST", "/orders", body))

    def cancel_open_orders(self, symbol: str) -> int:
        return 0

    def get_order(self, client_order_id: str) -> OrderUpdate | None:
        order = self._call("GET", f"/orders/{client_order_id}")
        return _update(order) if order else None


def _update(order: dict) -> OrderUpdate:
    return OrderUpdate(
        client_order_id=order["client_order_id"],
        broker_order_id=order["id"],
        status=order["status"],
        filled_quantity=Decimal(order["qty"]),
        filled_avg_price=Decimal(order["price"]),
    )
