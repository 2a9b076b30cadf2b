"""Request-level pieces shared by both ingestion dialects (TradersPost URL-secret webhooks
and the UTM API-key endpoint): the client IP, bounded raw-body reading and JSON decoding,
and rate-limit counters. Nothing here knows a dialect's envelope: each raises or returns
plain values and the dialect maps them to its own answer.
"""

import functools
import ipaddress
import logging
from typing import Any

from django.conf import settings
from django.http.request import RawPostDataException
from django_ratelimit.core import get_usage

from config import safejson
from config.safejson import JsonRejected

logger = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class BodyTooLarge(Exception):
    """The body is over the dialect's limit; it was not read."""


class BodyUnreadable(Exception):
    """The body's transfer encoding is broken (a bad chunk): there are no bytes to log."""


class EmptyBody(Exception):
    """No JSON at all (empty or whitespace-only body)."""


class MalformedJson(Exception):
    """The body is not valid UTF-8 JSON."""


@functools.lru_cache(maxsize=64)
def parse_networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """IPs or CIDRs as networks; invalid entries are skipped (validated when saved)."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            logger.warning("ignoring invalid IP/CIDR entry %r", entry)
    return tuple(networks)


def _as_ip(value: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address((value or "").strip())
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket must match IPv4 allowlists.
    return getattr(ip, "ipv4_mapped", None) or ip


def ip_in(ip: str | None, entries) -> bool:
    """Whether ``ip`` is inside any of ``entries`` (IPs or CIDRs)."""
    address = _as_ip(ip)
    if address is None:
        return False
    networks = parse_networks(tuple(str(entry) for entry in entries))
    return any(address in network for network in networks)


def client_ip(request) -> str | None:
    """The client's IP for source restrictions, rate limits and the log.

    The socket's peer (REMOTE_ADDR) unless that peer is one of settings.TRUSTED_PROXIES;
    then the right-most X-Forwarded-For hop that is not itself a trusted proxy. Hops left
    of it are whatever the client chose to send, so they are never believed: a forged
    X-Forwarded-For cannot pass an IP allowlist. None when the address is unusable.
    """
    remote = _as_ip(request.META.get("REMOTE_ADDR"))
    trusted = tuple(settings.TRUSTED_PROXIES)
    if remote is None or not trusted or not ip_in(str(remote), trusted):
        return str(remote) if remote is not None else None
    hops = [h for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    for hop in reversed(hops):
        address = _as_ip(hop)
        if address is None:
            return None
        if not ip_in(str(address), trusted):
            return str(address)
    return str(remote)


def read_body(request, *, max_bytes: int) -> bytes:
    """The raw body, read before anything parses it, refusing to read more than
    ``max_bytes`` (raises BodyTooLarge; a declared length over it is not read at all).

    A chunked body (``Transfer-Encoding: chunked``, no Content-Length: custom code that
    streams its request) is read from the server's decoded input stream, which Django's
    ``request.body`` leaves unread without a Content-Length."""
    if not request.META.get("CONTENT_LENGTH") and _is_chunked(request):
        return _read_chunked(request, max_bytes=max_bytes)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > max_bytes:
        raise BodyTooLarge()
    try:
        body = request.body
    except RawPostDataException:
        body = b""
    except OSError:  # the client stopped sending (a read timed out) or went away
        raise BodyUnreadable() from None
    except Exception:  # Django's RequestDataTooBig and friends: never a 500 for a body
        raise BodyTooLarge()
    if len(body) > max_bytes:
        raise BodyTooLarge()
    return body


def _is_chunked(request) -> bool:
    return "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()


def _read_chunked(request, *, max_bytes: int) -> bytes:
    stream = request.META.get("wsgi.input")
    if stream is None:
        return b""
    try:
        body = stream.read(max_bytes + 1)  # one byte more tells "over the limit"
    except Exception:  # a bad chunk size or a body cut short: the server's parser gave up
        raise BodyUnreadable() from None
    if len(body) > max_bytes:
        raise BodyTooLarge()
    return body


def decode_json(raw: bytes) -> Any:
    """Decode a request body as JSON whatever its Content-Type (TradingView posts
    text/plain), under the one policy for outside JSON (config.safejson). Raises EmptyBody
    or MalformedJson (NaN/Infinity included: they are not JSON), or safejson's TooDeep /
    UnsafeText (JsonRejected, with the path of the offending value), which each dialect
    answers as a field error."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MalformedJson()
    if not text.strip():
        raise EmptyBody()
    try:
        return safejson.loads(text)
    except JsonRejected:
        raise
    except ValueError:
        raise MalformedJson()


def rate_limit_retry_after(request, *, group: str, key: str, rate: str) -> int | None:
    """Count this request against ``rate`` ("60/m", "500/h") for ``key`` in ``group`` and
    return the seconds to wait (Retry-After) if it is over, else None.

    Counters live in the Django cache (Redis in production) through django-ratelimit,
    shared by every worker. If the cache is down we let the request through: refusing all
    signals because a counter is unreachable would be worse than a missed limit.
    """
    try:
        usage = get_usage(
            request, group=group, key=lambda _group, _request: key, rate=rate, increment=True
        )
    except Exception:
        logger.warning("rate limit counter unavailable for %s; letting the request in", group)
        return None
    if usage is None or not usage["should_limit"]:
        return None
    return max(int(usage["time_left"]), 1)
