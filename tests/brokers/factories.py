import uuid
from decimal import Decimal

import factory

from brokers.adapters.base import OrderRequest
from brokers.models import Order
from tests.factories import BrokerAccountFactory


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    organization = factory.SelfAttribute("account.organization")
    account = factory.SubFactory(BrokerAccountFactory)
    symbol = "AAPL"
    side = Order.Side.BUY
    quantity = Decimal("10")
    client_order_id = factory.LazyFunction(lambda: f"tr-{uuid.uuid4().hex}")


def order_request(**fields) -> OrderRequest:
    """An OrderRequest with a fresh client order id; decimals may be given as strings."""
    fields.setdefault("client_order_id", f"tr-{uuid.uuid4().hex}")
    fields.setdefault("symbol", "AAPL")
    fields.setdefault("side", "buy")
    fields.setdefault("quantity", "10")
    for name in ("quantity", "limit_price", "stop_price", "trail_amount", "trail_percent"):
        if isinstance(fields.get(name), str | int):
            fields[name] = Decimal(str(fields[name]))
    if isinstance(fields.get("reference_price"), str | int):
        fields["reference_price"] = Decimal(str(fields["reference_price"]))
    return OrderRequest(**fields)
