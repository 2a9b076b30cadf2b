"""What a TradersPost webhook request asks of the shared cache before it is logged, in
the documented order and, on Redis, in one round trip.

In order (docs/webhooks.md): a wrong or missing password is counted against its webhook
and, past WEBHOOK_FAILED_PASSWORD_PER_MINUTE of them this minute, shed (a 429 instead of
invalid-password); the webhook's state (nothing counted for a suspended organization or a
disabled webhook); the per-webhook limits (per minute, then per hour; every request with
the right password counts, whatever the checks after them say); then, for a request that
passed every check, the duplicate claim (SET NX of the body's digest for the duplicate
window).

Failures are counted per webhook only, and a request with the right password never
reads that count. Webhook passwords are 128-bit random secrets, so failed attempts are a
load to shed, not a secret to protect: a lockout that also refused the right password
(it once did, per webhook and per source IP) let anyone who knows a webhook's uuid,
which is not secret, lock its owner out, and let one tenant's failures from a shared
address (TradingView's) lock every other tenant out.

The caller works out what it can alone first (the password, the state, the source IP and
the body) and passes the outcomes in; `admit` answers where the request stops. On Redis a
Lua script does all of it in one call. It used to be up to seven round trips
(django-ratelimit's add-then-incr for each counter, and the claim), about 0.7 ms of the
web worker's CPU per accepted webhook, a third of what it spent (docs/benchmarks.md). Any
other cache backend (the embedded default: local memory) takes the same steps one cache
call at a time, with the same fixed windows; tests/webhooks/test_admission.py runs both
on the same sequences of requests.

If the cache cannot be reached, the request goes on: no limit, no duplicate protection
(a warning is logged), as each step did before. Losing a limit beats refusing signals.
"""

import hashlib
import logging
import math
import time
import uuid
from dataclasses import dataclass, replace

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import NoScriptError

from signals.services import duplicate_key, signal_duplicate_claim

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    """The duplicate claim an accepted request makes: ``body_hash`` for ``window_seconds``
    within ``scope`` (the webhook), owned by ``signal_id``."""

    scope: str
    body_hash: str
    window_seconds: int
    signal_id: uuid.UUID


@dataclass(frozen=True)
class Verdict:
    """``retry_after`` (seconds) when a limit stops the request (429: shed failures too);
    ``first_id`` when the claim found the body already accepted (a duplicate of it)."""

    retry_after: int | None = None
    first_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Facts:
    """What the caller found without the cache: ``password_ok``, ``state_ok``
    (organization active, webhook enabled), ``checks_ok`` (source IP and body), the
    webhook's limits, and the ``claim`` to make if the request gets that far. No source
    address: an address says nothing about which tenant is sending (TradingView's are
    shared by all its users), so no count is kept per address."""

    webhook_id: str
    password_ok: bool
    state_ok: bool
    rate_per_minute: int
    rate_per_hour: int
    checks_ok: bool
    claim: Claim | None
    # This request was counted already, by a try of its admission that a database fault
    # ended (signals.faults.retried_once): make the claim, count nothing.
    counted: bool = False


def admit(facts: Facts) -> Verdict:
    """Where the request stops."""
    if facts.claim is not None and facts.claim.window_seconds <= 0:
        facts = replace(facts, claim=None)
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        return _admit_on_redis(cache, facts)
    return _admit_step_by_step(cache, facts)


# KEYS: failures of the webhook, limit per minute, limit per hour, claim.
# ARGV: failures allowed a minute (-1: limits off), password ok, state ok, per-minute
# limit, per-hour limit (-1: limits off), checks ok, claim value, claim seconds (0: no
# claim). Counters are fixed windows starting at their first count (INCR, then EXPIRE
# when new); the TTL left is the Retry-After. A failure is counted even when shed, so a
# flood keeps its webhook's window full, never longer.
# Returns {0} go on, {1, ttl} stop with 429, {2, first} a duplicate of `first`.
_SCRIPT = """
if ARGV[2] ~= '1' then
  local allowed = tonumber(ARGV[1])
  if allowed < 0 then return {0} end
  local failures = redis.call('INCR', KEYS[1])
  if failures == 1 then redis.call('EXPIRE', KEYS[1], 60) end
  if failures > allowed then return {1, redis.call('TTL', KEYS[1])} end
  return {0}
end
if ARGV[3] ~= '1' then return {0} end
local periods = {60, 3600}
for i = 1, 2 do
  local limit = tonumber(ARGV[3 + i])
  if limit >= 0 then
    local count = redis.call('INCR', KEYS[1 + i])
    if count == 1 then redis.call('EXPIRE', KEYS[1 + i], periods[i]) end
    if count > limit then return {1, redis.call('TTL', KEYS[1 + i])} end
  end
end
if ARGV[6] ~= '1' then return {0} end
local seconds = tonumber(ARGV[8])
if seconds > 0 and not redis.call('SET', KEYS[4], ARGV[7], 'NX', 'EX', seconds) then
  return {2, redis.call('GET', KEYS[4])}
end
return {0}
"""

_SHA = hashlib.sha1(_SCRIPT.encode()).hexdigest()  # noqa: S324 (Redis names scripts so)


def _run(client, keys: list, args: list):
    try:
        return client.evalsha(_SHA, len(keys), *keys, *args)
    except NoScriptError:  # a server that has not seen it yet (or was restarted)
        return client.eval(_SCRIPT, len(keys), *keys, *args)


def _admit_on_redis(cache, facts: Facts) -> Verdict:
    claim, webhook_id = facts.claim, facts.webhook_id
    limits_on = settings.RATELIMIT_ENABLE and not facts.counted
    allowed = settings.WEBHOOK_FAILED_PASSWORD_PER_MINUTE if limits_on else -1
    keys = [
        cache.make_key(f"webhook-failures:{webhook_id}"),
        cache.make_key(f"webhook-rate-minute:{webhook_id}"),
        cache.make_key(f"webhook-rate-hour:{webhook_id}"),
        cache.make_key(duplicate_key(claim.scope, claim.body_hash) if claim else "-"),
    ]
    # The claim's value is stored the way the cache stores values, so the cache API reads
    # it (signal_duplicate_release; tests/webhooks/test_admission.py checks it).
    serializer = cache._cache._serializer
    args = [
        allowed,
        int(facts.password_ok),
        int(facts.state_ok),
        facts.rate_per_minute if limits_on else -1,
        facts.rate_per_hour if limits_on else -1,
        int(facts.checks_ok),
        serializer.dumps(str(claim.signal_id)) if claim else b"",
        claim.window_seconds if claim else 0,
    ]
    try:
        result = _run(cache._cache.get_client(write=True), keys, args)
    except Exception:
        logger.warning("rate limits and duplicate check unavailable; letting the request in")
        return Verdict()
    if result[0] == 1:
        return Verdict(retry_after=max(int(result[1]), 1))
    if result[0] == 2:
        try:
            return Verdict(first_id=uuid.UUID(str(serializer.loads(result[1]))))
        except Exception:  # not a claim this code made: treat this request as the first
            logger.warning("unreadable duplicate claim; accepting the signal")
    return Verdict()


def _admit_step_by_step(cache, facts: Facts) -> Verdict:
    claim, webhook_id = facts.claim, facts.webhook_id
    limits_on = settings.RATELIMIT_ENABLE and not facts.counted
    if not facts.password_ok:
        if not limits_on:
            return Verdict()
        failures, left = _count(cache, f"webhook-failures:{webhook_id}", 60)
        allowed = settings.WEBHOOK_FAILED_PASSWORD_PER_MINUTE
        return Verdict(retry_after=left if failures > allowed else None)
    if not facts.state_ok:
        return Verdict()
    limits = (
        (f"webhook-rate-minute:{webhook_id}", 60, facts.rate_per_minute),
        (f"webhook-rate-hour:{webhook_id}", 3600, facts.rate_per_hour),
    )
    for key, period, limit in limits if limits_on else ():
        count, left = _count(cache, key, period)
        if count > limit:
            return Verdict(retry_after=left)
    if not facts.checks_ok or claim is None:
        return Verdict()
    first_id = signal_duplicate_claim(
        scope=claim.scope,
        body_hash=claim.body_hash,
        window_seconds=claim.window_seconds,
        signal_id=claim.signal_id,
    )
    return Verdict(first_id=first_id)


def _count(cache, key: str, period: int) -> tuple[int, int]:
    """Count one more in ``key``'s fixed window of ``period`` seconds, which starts with
    its first count as the script's INCR-then-EXPIRE does: (the count, the seconds left).
    The window's end is kept beside the counter because not every cache can say how long
    a key has left. (0, 0) when the cache cannot be reached: no limit."""
    now = time.time()
    try:
        cache.add(f"{key}:ends", now + period, timeout=period)
        cache.add(key, 0, timeout=period)
        count = cache.incr(key)
        ends = cache.get(f"{key}:ends") or now + period
    except Exception:
        logger.warning("rate limit counter unavailable; letting the request in")
        return 0, 0
    return count, max(math.ceil(ends - now), 1)
