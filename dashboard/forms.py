"""The dashboard's forms: they turn browser input into typed values and carry the help
text people read; the rules themselves live in the apps' services (one validation per
rule), whose ValidationErrors come back here next to their fields."""

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from accounts.models import ApiKey, Role
from brokers.adapters import ADAPTERS, adapter_class_for
from brokers.adapters.ccxt import mode_errors
from brokers.adapters.market_data import (
    ALPACA,
    ALPACA_DATA_KEY_FIELDS,
    has_alpaca_data_key,
    market_data_sources,
)
from brokers.models import BrokerAccount, Order
from signals.models import Signal
from strategies.models import Strategy, Subscription
from webhooks.models import Webhook


def apply_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's ValidationError next to the fields it names."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, messages in error.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)


class OrganizationForm(forms.Form):
    name = forms.CharField(
        max_length=120, help_text="Your team or trading desk; you can rename it later."
    )


class StrategyForm(forms.ModelForm):
    class Meta:
        model = Strategy
        fields = ["name", "description", "asset_class", "enabled"]
        help_texts = {
            "name": "How you recognise it in the signal log.",
            "description": "Optional: what it trades and when.",
            "asset_class": "What its signals trade; a webhook of this strategy takes it over.",
            "enabled": "Off: signals are still logged but place no orders in any account.",
        }
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def _post_clean(self):
        """Model validation (the name is unique per organization) is strategies.services'
        rule, checked on save."""


class LinesField(forms.CharField):
    """A list typed one entry per line (commas work too)."""

    widget = forms.Textarea(attrs={"rows": 3})

    def to_python(self, value):
        text = super().to_python(value) or ""
        return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value


class WebhookForm(forms.ModelForm):
    allowed_ips = LinesField(
        required=False,
        label="Allowed IP addresses",
        help_text="One IP or CIDR network per line (e.g. 203.0.113.7 or 10.0.0.0/8); empty accepts any source.",
    )
    allowed_tickers = LinesField(
        required=False,
        label="Allowed tickers",
        help_text="One ticker per line; a signal for any other ticker is refused (unsupported-ticker). Empty accepts any.",
    )

    class Meta:
        model = Webhook
        fields = ["name", "strategy", "enabled", "asset_class", "limit_to_tradingview"]
        fields += ["limit_to_trendspider", "allowed_ips", "allowed_tickers"]
        fields += ["duplicate_window_seconds"]
        labels = {
            "limit_to_tradingview": "Only accept requests from TradingView",
            "limit_to_trendspider": "Only accept requests from TrendSpider",
            "duplicate_window_seconds": "Duplicate window (seconds)",
        }
        help_texts = {
            "name": "For you: shown in lists and in the signal log.",
            "strategy": "The strategy whose subscribed accounts trade this webhook's signals.",
            "enabled": "Off: requests are answered webhook-disabled and place no orders.",
            "asset_class": "Signals must name a ticker of this class (invalid-asset-class otherwise).",
            "limit_to_tradingview": "Requests from other addresses are refused (not-trading-view).",
            "limit_to_trendspider": "Requests from other addresses are refused (not-trend-spider).",
            "duplicate_window_seconds": "The same body again within this many seconds is logged as a duplicate and places no second order; 0 turns this off.",
        }

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["strategy"].queryset = Strategy.objects.for_org(organization).order_by("name")
        self.fields["asset_class"].required = False

    def _post_clean(self):
        """Model validation is webhooks.services' job (webhook_validate), on save."""


SUBSCRIPTION_HELP = {
    "account": "The broker account that places this strategy's orders.",
    "enabled": "Off: this account ignores the strategy's signals (each is recorded as ignored).",
    "auto_submit": "On: orders go to the broker at once. Off: each waits in the approval queue for a person.",
    "approval_timeout_seconds": "With manual approval, an order nobody approves within this many seconds expires.",
    "allowed_sides": "Which positions may be opened; a sell in a long-only account only exits.",
    "use_signal_quantity": "On: trade the quantity the signal sends (times the multiplier). Off: use the sizing below.",
    "signal_quantity_multiplier": "The signal's quantity is multiplied by this (2 doubles every order).",
    "sizing_method": "How the quantity is worked out when the signal's quantity is not used.",
    "sizing_value": "Shares for fixed quantity, dollars for dollar amounts, percent for percent of equity.",
    "exit_percent_of_position": "A partial exit (buy + bearish, sell + bullish) closes this percent of the position.",
    "fractional": "Allow fractional quantities (where the broker and instrument support them).",
    "allow_add": "Let a buy add to an existing long (and a sell to a short) instead of being ignored.",
    "entry_order_type": "Order type used to open or add to a position.",
    "exit_order_type": "Order type used to close or reduce a position.",
    "entry_time_in_force": "How long an entry order stays working at the broker.",
    "exit_time_in_force": "How long an exit order stays working at the broker.",
    "limit_price_offset": "Limit orders are placed this many dollars from the signal's price (worse for you, to fill more often).",
    "take_profit_kind": "Attach a take-profit order to each entry: by percent, dollar amount or price.",
    "take_profit_value": "The take-profit distance (percent or dollars) or price, as the kind says.",
    "stop_loss_kind": "Attach a stop-loss order to each entry: by percent, dollar amount or price.",
    "stop_loss_value": "The stop-loss distance (percent or dollars) or price, as the kind says.",
    "stop_loss_type": "Stop (market once hit), stop limit, or trailing stop.",
    "max_position_size": "Largest position this subscription may hold in one symbol; empty for no limit.",
}


class SubscriptionForm(forms.ModelForm):
    class Meta:
        model = Subscription
        fields = list(SUBSCRIPTION_HELP)
        help_texts = SUBSCRIPTION_HELP

    field_order = list(SUBSCRIPTION_HELP)

    def __init__(self, *args, organization, accounts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts
        self.fields["account"].empty_label = None  # the first account is preselected
        self.fields["account"].label_from_instance = _account_label
        if not self.instance._state.adding:  # (a UUID pk is set before the first save)
            self.fields["account"].disabled = True
        for name, field in self.fields.items():
            value = self.initial.get(name)
            if isinstance(field, forms.DecimalField) and isinstance(value, Decimal):
                # 1.00000000 / 0E-8 as stored; a person writes 1 and 0.
                self.initial[name] = _plain_decimal(value)

    def _post_clean(self):
        """Model validation is strategies.services' job (subscription_validate), on save."""


def _plain_decimal(value: Decimal) -> str:
    if value == value.to_integral_value():
        return f"{value:.0f}"
    return f"{value.normalize():f}"


def _account_label(account) -> str:
    return f"{account.name} ({account.get_mode_display().upper()})"


def _initial_cash_field() -> forms.DecimalField:
    return forms.DecimalField(
        max_digits=20,
        decimal_places=2,
        initial=Decimal("100000"),
        min_value=Decimal("0.01"),
        help_text="Play money it starts with (and returns to on reset).",
    )


class PaperAccountForm(forms.Form):
    name = forms.CharField(
        max_length=100, initial="Paper account", help_text="Shown wherever the account appears."
    )
    initial_cash = _initial_cash_field()


CREDENTIAL_PREFIX = "credential_"


def broker_kinds() -> list[tuple[str, str]]:
    """The broker kinds an account may be created for: those with an adapter."""
    return [(value, label) for value, label in BrokerAccount.Broker.choices if value in ADAPTERS]


def market_data_choices(
    account: BrokerAccount | None = None, *, key_on_form: bool = False
) -> list[tuple[str, str]]:
    """The sources a paper account can use from here. Alpaca's data API answers only with
    a key: it is offered to an account that holds one, or on a form where one can be typed
    (the service refuses the choice without a key), as otherwise it would never quote."""
    has_key = account is not None and has_alpaca_data_key(account.credentials)
    keep_current = account is not None and account.market_data_source == ALPACA
    return [
        (value, label)
        for value, label in market_data_sources()
        if value != ALPACA or has_key or keep_current or key_on_form
    ]


class BrokerAccountForm(forms.Form):
    """A broker account of one kind (chosen before the form: its credential fields are
    that adapter's credential_fields()). Secrets are password inputs never rendered back;
    on an existing account a blank credential keeps the stored one."""

    name = forms.CharField(max_length=100, help_text="Shown wherever the account appears.")
    mode = forms.ChoiceField(
        choices=BrokerAccount.Mode.choices,
        widget=forms.RadioSelect,
        help_text="Paper trades on the broker's sandbox with play money; live places real orders.",
    )
    initial_cash = _initial_cash_field()
    market_data_source = forms.ChoiceField(
        required=False,
        label="Market data source",
        help_text="Where a market order without a price gets its quote.",
    )

    def __init__(self, *args, broker: str, account: BrokerAccount | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.broker, self.account = broker, account
        self.credential_names: list[str] = []
        if broker == BrokerAccount.Broker.PAPER:
            del self.fields["mode"]
        else:
            del self.fields["initial_cash"], self.fields["market_data_source"]
        if account is not None:
            self.initial.setdefault("name", account.name)
        label = dict(BrokerAccount.Broker.choices)[broker].split(" (")[0]
        self.initial.setdefault("name", f"{label} account")
        if account is not None:
            self.fields.pop("initial_cash", None)
            self.initial.setdefault("mode", account.mode)
            self.initial.setdefault("market_data_source", account.market_data_source)
        if "market_data_source" in self.fields:
            self.fields["market_data_source"].choices = market_data_choices(
                account, key_on_form=True
            )
        if "mode" in self.fields:
            sandbox = mode_errors(broker=broker, mode=BrokerAccount.Mode.PAPER)
            if sandbox:
                # No sandbox: paper is not offered (the service refuses it too), and the
                # form says why; a paper posted anyway gets the same reason.
                mode = self.fields["mode"]
                mode.choices = [(BrokerAccount.Mode.LIVE, BrokerAccount.Mode.LIVE.label)]
                mode.help_text = mode.error_messages["invalid_choice"] = sandbox["mode"]
                self.initial.setdefault("mode", BrokerAccount.Mode.LIVE)
            self.initial.setdefault("mode", BrokerAccount.Mode.PAPER)
        stored = (
            account.credentials if account is not None and account.credentials_encrypted else {}
        )
        for name, label, secret in adapter_class_for(broker).credential_fields():
            missing = "None stored yet: the account cannot trade without it."
            self._credential_field(name, label, secret, stored, required=True, missing=missing)
        if broker == BrokerAccount.Broker.PAPER:
            # Optional: only the Alpaca market data source uses them.
            for name, label, secret in ALPACA_DATA_KEY_FIELDS:
                missing = "Only for the Alpaca market data source."
                self._credential_field(name, label, secret, stored, required=False, missing=missing)

    def _credential_field(self, name, label, secret, stored, *, required, missing) -> None:
        key = CREDENTIAL_PREFIX + name
        self.credential_names.append(name)
        if secret:
            widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"})
        else:
            widget = forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"})
        help_text = "Stored encrypted; never shown again." if secret else ""
        if not required:
            help_text = f"{missing} {help_text}".strip()
        if self.account is not None:
            help_text = "Leave blank to keep the stored one." if stored.get(name) else missing
            if not secret:
                self.initial.setdefault(key, stored.get(name, ""))
        self.fields[key] = forms.CharField(
            label=label,
            max_length=4096,
            required=required and self.account is None,
            strip=True,
            widget=widget,
            help_text=help_text,
        )

    def credentials(self) -> dict | None:
        """The credentials to store: the typed ones over the stored ones; None when
        nothing was typed (the stored credentials stay as they are)."""
        typed = {
            name: self.cleaned_data[CREDENTIAL_PREFIX + name]
            for name in self.credential_names
            if self.cleaned_data.get(CREDENTIAL_PREFIX + name)
        }
        if self.account is None:
            return typed or None
        stored = self.account.credentials if self.account.credentials_encrypted else {}
        if all(stored.get(name) == value for name, value in typed.items()):
            return None
        return {**stored, **typed}

    def account_fields(self) -> dict:
        """The model fields of the form, for brokers.services."""
        fields = {"name": self.cleaned_data["name"]}
        for key in ("mode", "initial_cash", "market_data_source"):
            if key in self.fields:
                fields[key] = self.cleaned_data[key]
        if self.broker == BrokerAccount.Broker.PAPER and self.account is None:
            fields["mode"] = BrokerAccount.Mode.PAPER
        return fields


class MarketDataSourceForm(forms.Form):
    market_data_source = forms.ChoiceField(
        required=False,
        label="Market data source",
        help_text="Where a market order without a price gets its quote.",
    )

    def __init__(self, *args, account: BrokerAccount | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["market_data_source"].choices = market_data_choices(account)


class SignalFilterForm(forms.Form):
    webhook = forms.UUIDField(required=False, widget=forms.Select)
    strategy = forms.UUIDField(required=False, widget=forms.Select)
    ticker = forms.CharField(required=False, max_length=40)
    status = forms.ChoiceField(required=False, choices=[("", "Any"), *Signal.Status.choices])
    dialect = forms.ChoiceField(required=False, choices=[("", "Any"), *Signal.Dialect.choices])
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, webhooks, strategies, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["webhook"].widget.choices = [("", "Any"), *((w.id, w.name) for w in webhooks)]
        self.fields["strategy"].widget.choices = [
            ("", "Any"),
            *((s.id, s.name) for s in strategies),
        ]


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “my backtest server”.")
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[ApiKey.Scope.READ, ApiKey.Scope.SIGNALS_WRITE],
        help_text="Read: see signals, orders, positions. Send signals: POST /api/v1/signals/ingest. Manage: change settings.",
    )
    mode = forms.ChoiceField(
        choices=ApiKey.Mode.choices,
        initial=ApiKey.Mode.PAPER,
        help_text="A paper key may only send signals to paper accounts, a live key only to live ones.",
    )


class InviteForm(forms.Form):
    email = forms.EmailField(help_text="They get a mail: someone new chooses a password there.")
    role = forms.ChoiceField(
        choices=Role.choices,
        initial=Role.VIEWER,
        help_text="Viewer: sees everything, changes nothing. Trader: strategies, webhooks, accounts, approvals. Admin: also members and API keys. Owner: also owners.",
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class OrderFilterForm(forms.Form):
    account = forms.UUIDField(required=False, widget=forms.Select)
    ticker = forms.CharField(required=False, max_length=40)
    status = forms.ChoiceField(required=False, choices=[("", "Any"), *Order.Status.choices])
    side = forms.ChoiceField(required=False, choices=[("", "Any"), *Order.Side.choices])
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, accounts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].widget.choices = [
            ("", "Any"),
            *((a.id, f"{a.name} ({a.get_mode_display()})") for a in accounts),
        ]


class PreviewForm(forms.Form):
    """The subscription page's "what would this signal do?" (a TradersPost signal)."""

    prefix = "preview"
    ticker = forms.CharField(max_length=40, initial="AAPL", help_text="As the alert sends it.")
    action = forms.ChoiceField(
        choices=[(a, a) for a in ("buy", "sell", "exit", "add", "cancel")], initial="buy"
    )
    sentiment = forms.ChoiceField(
        required=False,
        choices=[("", "none"), ("bullish", "bullish"), ("bearish", "bearish"), ("flat", "flat")],
        help_text="Optional, for buy and sell (flat exits, the opposite one reduces).",
    )
    quantity = forms.DecimalField(
        required=False, initial=Decimal("10"), help_text="The signal's quantity; may be empty."
    )
    price = forms.DecimalField(
        required=False, initial=Decimal("190"), help_text="The price the signal carries."
    )
