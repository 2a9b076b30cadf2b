"""webhooks.admission: the lockout, the rate limits and the duplicate claim of a webhook
request. The behaviour (who gets a 429, who is a duplicate) is tested through the
endpoint in test_limits.py and test_duplicates.py, on whichever cache the run has (Redis
in CI, local memory in the embedded default); these tests pin down the Redis path: one
round trip, atomic claims, expiry, and an unreachable Redis."""

import json
import threading
import time
import uuid

import pytest
import redis
from django.core.cache import cache

from signals.models import Signal
from signals.services import body_digest, duplicate_key
from tests.servers import free_port
from webhooks.admission import Claim, Facts, admit

pytestmark = pytest.mark.django_db

TP = {"ticker": "AMD", "action": "buy", "price": 85.5}


@pytest.fixture
def redis_cache(settings, throwaway_redis):
    """The default cache on a Redis server of the test's own; its URL."""
    _, url = throwaway_redis
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "BACKEND": "config.cache.RedisCache",
            "LOCATION": url,
        }
    }
    return url


def _commands_during(url: str, action) -> list[dict]:
    """What Redis executed while ``action`` ran, as MONITOR reports it (commands a Lua
    script runs come with client_type "lua")."""
    client, signaller = redis.Redis.from_url(url), redis.Redis.from_url(url)
    marker = f"end-{uuid.uuid4().hex}"
    signaller.ping()  # connected (and its handshake done) before the monitor starts
    with client.monitor() as monitor:
        action()
        signaller.echo(marker)
        commands = []
        while (command := monitor.next_command())["command"] != f"ECHO {marker}":
            commands.append(command)
    return commands


def test_an_accepted_webhook_asks_redis_once_with_limits_on(
    redis_cache, make_webhook, send, settings
):
    settings.RATELIMIT_ENABLE = True
    _, path = make_webhook()
    assert send(path, TP).status_code == 200  # fills the instrument cache for AMD
    responses = []
    commands = _commands_during(
        redis_cache, lambda: responses.append(send(path, TP | {"price": 86}))
    )
    assert responses[0].status_code == 200
    # Both limits and the claim: one script call (EVALSHA; EVAL the first time a process
    # meets a server without the script), the rest inside it. The right password never
    # reads the failure count.
    sent = [c["command"].split()[0] for c in commands if c["client_type"] != "lua"]
    inside = sorted(c["command"].split()[0] for c in commands if c["client_type"] == "lua")
    assert sent in (["EVALSHA"], ["EVAL"]), commands
    assert inside == ["INCR", "INCR", "SET"], commands  # counters already live


def test_the_claim_is_readable_through_the_cache(make_webhook, send):
    webhook, path = make_webhook()
    answer = send(path, TP).json()
    digest = body_digest(json.dumps(TP).encode())
    assert cache.get(duplicate_key(str(webhook.id), digest)) == answer["id"]


def _admit(claim: Claim | None, **overrides):
    facts = {
        "webhook_id": "w",
        "password_ok": True,
        "state_ok": True,
        "rate_per_minute": 10_000,
        "rate_per_hour": 10_000,
        "checks_ok": True,
        "claim": claim,
    }
    return admit(Facts(**facts | overrides))


def _claim(body: bytes, window: int = 20) -> Claim:
    return Claim(
        scope="race", body_hash=body_digest(body), window_seconds=window, signal_id=uuid.uuid4()
    )


def test_concurrent_claims_on_redis_have_exactly_one_winner(redis_cache):
    claims = [_claim(b"same body") for _ in range(8)]
    results = {}
    barrier = threading.Barrier(len(claims))

    def run(claim):
        barrier.wait()
        results[claim.signal_id] = _admit(claim).first_id

    threads = [threading.Thread(target=run, args=(claim,)) for claim in claims]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [signal_id for signal_id, first in results.items() if first is None]
    assert len(results) == 8 and len(winners) == 1
    assert set(results.values()) == {None, winners[0]}  # the others: duplicates of it


def test_a_claim_on_redis_expires_with_its_window(redis_cache):
    first = _claim(b"x", window=1)
    assert _admit(first).first_id is None
    assert _admit(_claim(b"x", window=1)).first_id == first.signal_id
    time.sleep(1.2)
    assert _admit(_claim(b"x", window=1)).first_id is None


def test_a_request_stopped_before_the_claim_makes_none(redis_cache, settings):
    settings.RATELIMIT_ENABLE = True
    body = b"refused then sent right"
    for stop in ({"password_ok": False}, {"state_ok": False}, {"checks_ok": False}):
        assert _admit(_claim(body), **stop).first_id is None
    assert _admit(_claim(body)).first_id is None  # the first real claim
    assert _admit(_claim(body)).first_id is not None


def test_limit_counters_expire_with_their_window(redis_cache, settings):
    settings.RATELIMIT_ENABLE = True
    verdicts = [_admit(None, rate_per_minute=2) for _ in range(3)]
    assert [v.retry_after is None for v in verdicts] == [True, True, False]
    assert 1 <= verdicts[2].retry_after <= 60
    minute_key = cache.make_key("webhook-rate-minute:w")
    client = redis.Redis.from_url(redis_cache)
    assert 0 < client.ttl(minute_key) <= 60
    assert 3000 < client.ttl(cache.make_key("webhook-rate-hour:w")) <= 3600


def test_an_unreachable_redis_lets_signals_in(settings, make_webhook, send, caplog):
    # No limit and no duplicate detection while Redis is away: refusing signals would be
    # worse. Both identical bodies are accepted as signals of their own.
    settings.RATELIMIT_ENABLE = True
    settings.WEBHOOK_RATE_PER_MINUTE = 1
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    _, path = make_webhook()
    answers = [send(path, TP) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json()["id"] != answers[1].json()["id"]
    assert Signal.objects.filter(status=Signal.Status.PENDING).count() == 2
    assert "unavailable" in caplog.text


@pytest.fixture(params=["locmem", "redis"])
def either_cache(request, settings):
    """The default cache as local memory (step by step) or Redis (the script): the run's
    own Redis when it has one, else a throwaway server."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    if request.param == "locmem":
        conf = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": prefix}
    else:
        url = settings.REDIS_URL or request.getfixturevalue("throwaway_redis")[1]
        conf = {"BACKEND": "config.cache.RedisCache", "LOCATION": url, "KEY_PREFIX": prefix}
    settings.CACHES = {"default": conf}
    return request.param


# One webhook's requests in one minute (3 failures allowed, 4 a minute, 6 an hour) and
# where each stops: "go" (on to its answer), "429", or "duplicate" (of the body's first).
SEQUENCE = [
    *[({"password_ok": False}, None, "go")] * 3,
    ({"password_ok": False}, None, "429"),
    ({"password_ok": False}, None, "429"),  # shed, and counted: the window stays full
    ({}, b"A", "go"),  # the right password never reads the failures
    ({}, b"A", "duplicate"),
    ({"state_ok": False}, b"A", "go"),  # counts nothing, claims nothing
    ({"checks_ok": False}, b"B", "go"),  # counted, claims nothing
    ({}, b"B", "go"),  # the 4th this minute
    ({}, b"C", "429"),
    ({"password_ok": False}, None, "429"),
]


def _outcome(verdict, claim) -> str:
    if verdict.retry_after is not None:
        assert 1 <= verdict.retry_after <= 60
        return "429"
    return "go" if verdict.first_id in (None, claim and claim.signal_id) else "duplicate"


def test_both_paths_stop_the_same_requests_in_the_same_places(either_cache, settings):
    settings.RATELIMIT_ENABLE = True
    settings.WEBHOOK_FAILED_PASSWORD_PER_MINUTE = 3
    webhook_id = f"w-{uuid.uuid4().hex}"
    outcomes = []
    for overrides, body, _ in SEQUENCE:
        claim = _claim(body) if body is not None else None
        facts = {"webhook_id": webhook_id, "rate_per_minute": 4, "rate_per_hour": 6}
        outcomes.append(_outcome(_admit(claim, **facts | overrides), claim))
    assert outcomes == [expected for *_, expected in SEQUENCE]


def test_both_paths_count_nothing_with_limits_off(either_cache, settings):
    settings.RATELIMIT_ENABLE = False
    settings.WEBHOOK_FAILED_PASSWORD_PER_MINUTE = 1
    verdicts = [_admit(None, password_ok=False) for _ in range(3)]
    verdicts += [_admit(None, rate_per_minute=1) for _ in range(3)]
    assert all(v.retry_after is None for v in verdicts)
