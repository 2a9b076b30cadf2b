"""Writes on broker accounts: the rules every writer goes through. What reaches a broker
(orders, cancels, the paper account's reset) is execution's."""

from decimal import Decimal

from accounts.models import Organization
from brokers.adapters import adapter_class_for
from brokers.adapters.base import BrokerError
from brokers.adapters.ccxt import mode_errors
from brokers.adapters.market_data import ALPACA, has_alpaca_data_key, market_data_sources
from brokers.models import BrokerAccount
from config.rules import Range, assign, range_errors, refuse

ACCOUNT_RANGES = {"initial_cash": Range(above=0)}
CREDENTIALS_MAX_KEYS = 20
CREDENTIAL_MAX_LENGTH = 4096
CREDENTIALS_MISSING = "Credentials missing"


def broker_account_validate(*, account: BrokerAccount, credentials: dict | None = None) -> None:
    """``credentials``: the new ones about to be stored (encrypted), if any."""
    errors = range_errors(account, ACCOUNT_RANGES)
    errors |= mode_errors(broker=account.broker, mode=account.mode)
    stored = account.credentials if account.credentials_encrypted else {}
    errors |= _market_data_source_errors(account, stored if credentials is None else credentials)
    if credentials is not None:
        errors |= _credentials_errors(credentials)
    refuse(errors)


def _market_data_source_errors(account: BrokerAccount, credentials: dict) -> dict[str, str]:
    source = account.market_data_source
    if not source:
        return {}
    if source not in dict(market_data_sources()):
        known = ", ".join(value for value, _ in market_data_sources() if value)
        return {"market_data_source": f"Unknown market data source {source!r}; one of {known}."}
    if account.broker != BrokerAccount.Broker.PAPER:
        return {"market_data_source": "Only paper accounts take a market data source."}
    if source == ALPACA and not has_alpaca_data_key(credentials):
        # Alpaca's data API answers nothing without a key: the source would never quote.
        return {
            "market_data_source": "Alpaca market data needs the account's Alpaca data API "
            "key ID and secret key (credentials apiKey and secretKey)."
        }
    return {}


def _credentials_errors(credentials: dict) -> dict[str, str]:
    if len(credentials) > CREDENTIALS_MAX_KEYS:
        return {"credentials": f"At most {CREDENTIALS_MAX_KEYS} credential fields."}
    values = credentials.values()
    if not all(isinstance(v, str) and len(v) <= CREDENTIAL_MAX_LENGTH for v in values):
        return {"credentials": f"Values are strings of at most {CREDENTIAL_MAX_LENGTH}."}
    return {}


def broker_account_create(
    *, organization, name: str, credentials: dict | None = None, **fields
) -> BrokerAccount:
    """A new account; the paper ledger starts with its initial cash."""
    account = BrokerAccount(organization=organization, name=name, **fields)
    if "cash" not in fields:
        account.cash = account.initial_cash
    return _broker_account_save(account, credentials)


def broker_account_update(
    *, account: BrokerAccount, credentials: dict | None = None, **fields
) -> BrokerAccount:
    assign(account, fields.items())
    return _broker_account_save(account, credentials)


def _broker_account_save(account: BrokerAccount, credentials: dict | None) -> BrokerAccount:
    broker_account_validate(account=account, credentials=credentials)
    if credentials is not None:
        account.credentials = credentials
    _credentials_status(account)
    account.save()
    return account


def _credentials_status(account: BrokerAccount) -> None:
    """An account whose broker needs credentials it lacks (its adapter's
    credential_fields) is kept in status "error" saying which, so no order is ever sent
    to it; complete credentials make it active again. Test connection checks them."""
    try:
        fields = adapter_class_for(account.broker).credential_fields()
    except BrokerError:
        return
    stored = account.credentials if account.credentials_encrypted else {}
    missing = [label for name, label, _ in fields if not stored.get(name)]
    was_missing = account.status_message.startswith(CREDENTIALS_MISSING)
    if missing:
        account.status = BrokerAccount.Status.ERROR
        account.status_message = f"{CREDENTIALS_MISSING}: {', '.join(missing)}."
    elif was_missing and account.status == BrokerAccount.Status.ERROR:
        account.status, account.status_message = BrokerAccount.Status.ACTIVE, ""


def paper_account_create(
    *, organization: Organization, name: str, initial_cash: Decimal = Decimal("100000")
) -> BrokerAccount:
    """A paper account on the built-in paper broker, starting with ``initial_cash``: the
    dashboard's one click, held to the same rules as every other writer."""
    return broker_account_create(
        organization=organization,
        name=name,
        broker=BrokerAccount.Broker.PAPER,
        mode=BrokerAccount.Mode.PAPER,
        initial_cash=initial_cash,
    )
