"""Checking a broker account's credentials without trading ("test connection")."""

from dataclasses import dataclass

from brokers.adapters import get_adapter
from brokers.adapters.base import BrokerError
from brokers.models import BrokerAccount


@dataclass(frozen=True)
class ConnectionResult:
    ok: bool
    description: str = ""  # what the broker says the account is, when ok
    reason: str = ""  # why not, in a trader's words


def broker_account_test_connection(*, account: BrokerAccount) -> ConnectionResult:
    """Ask the account's broker who the credentials belong to. Never places an order."""
    try:
        description = get_adapter(account).test_connection()
    except BrokerError as exc:
        return ConnectionResult(ok=False, reason=str(exc))
    return ConnectionResult(ok=True, description=description)
