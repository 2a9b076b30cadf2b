"""The small status badges every list shows, as tags: an {% include %} per table row
cost the signal log most of its rendering time (docs/benchmarks.md, Dashboard)."""

from decimal import Decimal

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from execution.records import OPEN_AT_BROKER

register = template.Library()

SIGNAL_TONES = {"COMPLETED": "ok", "REJECTED": "bad", "FAILED": "bad", "DUPLICATE": "muted"}
ORDER_TONES = {"filled": "ok", "rejected": "bad", "failed": "bad", "canceled": "bad"}
ORDER_TONES["expired"] = "bad"
PAPER = '<span class="badge paper" title="Paper trading: play money">PAPER</span>'
LIVE = '<span class="badge live" title="Live trading: real money">LIVE</span>'


@register.simple_tag
def mode_badge(account) -> str:
    """PAPER or LIVE, unmistakably, wherever an account appears."""
    return mark_safe(PAPER if account.mode == "paper" else LIVE)  # noqa: S308 (constants)


@register.simple_tag
def signal_badge(signal) -> str:
    tone = SIGNAL_TONES.get(signal.status, "warn")
    return format_html('<span class="badge {}">{}</span>', tone, signal.get_status_display())


@register.simple_tag
def order_badge(order) -> str:
    tone = ORDER_TONES.get(order.status, "warn")
    return format_html('<span class="badge {}">{}</span>', tone, order.get_status_display())


@register.filter
def cancelable(order) -> bool:
    """Open at the broker: what order_cancel accepts (pending approval is rejected, not
    canceled; a NEW order is still being sent)."""
    return order.status in OPEN_AT_BROKER


@register.filter
def plain(value) -> str:
    """A decimal as a person writes it: 190.5, 10, 0.00012 (no trailing zeros)."""
    if value is None or value == "":
        return ""
    number = Decimal(str(value))
    if number == number.to_integral_value():
        return f"{number:.0f}"
    return f"{number.normalize():f}"
