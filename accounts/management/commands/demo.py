"""python manage.py demo [--json] [--org NAME] [--base-url URL]

Creates (once; a re-run reuses everything) a tenant ready to receive a first signal: an
owner, a paper broker account with 100,000 cash, a strategy with one subscription, a
webhook for it and an API key; and loads the shipped ticker database if it is empty. API keys are stored only as digests, so each run issues a
fresh demo key and revokes the previous one: there is always exactly one.
"""

import hashlib
import hmac
import json

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.text import slugify

from accounts.models import ApiKey, Membership, Organization, Role, User
from accounts.services import api_key_create, api_key_revoke
from brokers.instruments import instruments_load
from brokers.models import BrokerAccount, Instrument
from strategies.models import Strategy, Subscription
from webhooks.models import Webhook
from webhooks.services import LOCAL_BASE_URL, webhook_create, webhook_url

DEMO_KEY_NAME = "Demo key"
DEMO_ACCOUNT_NAME = "Paper account"


def _demo_password(slug: str) -> str:
    # Deterministic per tenant and installation, so a re-run prints the same login.
    digest = hmac.new(settings.SECRET_KEY.encode(), f"demo:{slug}".encode(), hashlib.sha256)
    return "Demo-" + digest.hexdigest()[:16]


def _owner(slug: str) -> tuple[User, str]:
    email = f"owner@{slug}.example.com"
    password = _demo_password(slug)
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password, name="Demo Owner")
    elif not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
    # Logins need a verified address (ACCOUNT_EMAIL_VERIFICATION); the demo's is made up,
    # so it is marked verified here instead of waiting for a mail nobody receives.
    EmailAddress.objects.update_or_create(
        user=user, email=email, defaults={"verified": True, "primary": True}
    )
    return user, email


def _organization(name: str, slug: str, owner: User) -> Organization:
    org, _ = Organization.objects.get_or_create(slug=slug, defaults={"name": name})
    Membership.objects.get_or_create(organization=org, user=owner, defaults={"role": Role.OWNER})
    return org


def _paper_account(org: Organization) -> BrokerAccount:
    # Account names are not unique (the API lets a tenant have two "Paper account"s, or a
    # live one of that name): the demo's own is the oldest paper one of that name.
    paper = {"broker": BrokerAccount.Broker.PAPER, "mode": BrokerAccount.Mode.PAPER}
    accounts = BrokerAccount.objects.for_org(org).filter(name=DEMO_ACCOUNT_NAME, **paper)
    account = accounts.order_by("created_at", "pk").first()
    if account is None:
        account = BrokerAccount.objects.create(organization=org, name=DEMO_ACCOUNT_NAME, **paper)
    return account


def _trading_setup(org: Organization) -> tuple[BrokerAccount, Strategy, Webhook]:
    account = _paper_account(org)
    strategy, _ = Strategy.objects.get_or_create(organization=org, name="Demo strategy")
    Subscription.objects.get_or_create(
        organization=org,
        strategy=strategy,
        account=account,
        defaults={
            "auto_submit": True,
            "allowed_sides": Subscription.Sides.BOTH,
            "use_signal_quantity": True,
            "sizing_method": Subscription.Sizing.FIXED_QUANTITY,
            "sizing_value": 1,
            "entry_order_type": Subscription.OrderType.MARKET,
            "exit_order_type": Subscription.OrderType.MARKET,
        },
    )
    webhook = Webhook.objects.for_org(org).filter(strategy=strategy, name="Demo webhook").first()
    if webhook is None:
        webhook = webhook_create(organization=org, strategy=strategy, name="Demo webhook")
    return account, strategy, webhook


def _fresh_api_key(org: Organization, owner: User) -> str:
    for old in ApiKey.objects.for_org(org).filter(name=DEMO_KEY_NAME, revoked_at__isnull=True):
        api_key_revoke(key=old)
    _, raw = api_key_create(
        organization=org, name=DEMO_KEY_NAME, scopes=list(ApiKey.ALL_SCOPES), created_by=owner
    )
    return raw


class Command(BaseCommand):
    help = "Create (idempotently) a demo tenant and print how to send it a first signal."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--org", default="Demo", help="organization name (default Demo)")
        parser.add_argument("--base-url", default=None, help="public base URL of this server")

    def handle(self, *args, **options):
        name = options["org"]
        slug = slugify(name)[:50] or "demo"
        if not Instrument.objects.exists():
            # A fresh install has an empty ticker database, and the first signal would be
            # answered ticker-does-not-exist.
            instruments_load()
        with transaction.atomic():
            owner, email = _owner(slug)
            org = _organization(name, slug, owner)
            account, strategy, webhook = _trading_setup(org)
            api_key = _fresh_api_key(org, owner)
        info = {
            "organization_id": str(org.id),
            "email": email,
            "password": _demo_password(slug),
            "webhook_url": webhook_url(webhook=webhook, base_url=options["base_url"]),
            "webhook_id": str(webhook.id),
            "api_key": api_key,
            "account_id": str(account.id),
            "strategy_id": str(strategy.id),
        }
        if options["json"]:
            self.stdout.write(json.dumps(info))
        else:
            self.stdout.write(self._for_people(info, options["base_url"]))

    def _for_people(self, info: dict, base_url: str | None) -> str:
        base = (base_url or settings.PUBLIC_BASE_URL or LOCAL_BASE_URL).rstrip("/")
        return f"""
TradeRelay demo tenant is ready.

  Dashboard:     {base}/accounts/login/
  Owner login:   email {info["email"]}   password {info["password"]}
  Webhook URL:   {info["webhook_url"]}
  API key:       {info["api_key"]}   (shown once; a re-run issues a new one)
  Paper account: {info["account_id"]}   (100,000 paper cash)
  API docs:      {base}/api/docs/
  Health:        {base}/healthz
  Operators:     python manage.py createsuperuser, then {base}/admin/ (staff only)

Send a first signal (TradersPost dialect):

  curl -X POST '{info["webhook_url"]}' \\
       -H 'Content-Type: application/json' \\
       -d '{{"ticker": "AAPL", "action": "buy", "price": 190.5, "quantity": 1}}'

Or through the API-key dialect (UTM):

  curl -X POST '{base}/api/v1/signals/ingest' \\
       -H 'Content-Type: application/json' -H 'X-API-Key: {info["api_key"]}' \\
       -d '{{"symbol": "AAPL", "action": "openLong", "accountId": "{info["account_id"]}", "quantity": 1}}'
"""
