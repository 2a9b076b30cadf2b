"""The webhook lookup and the signal log INSERT run as server-side prepared statements on
PostgreSQL (config/prepared.py), once prepared per session and then reused; turned off,
they are plain client-bound statements again."""

import json

import pytest
from django.db import connection
from django.test import Client

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL statements"),
]

BODY = json.dumps({"ticker": "AAPL", "action": "buy", "quantity": 1})


def _all_prepared() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, statement FROM pg_prepared_statements")
        return dict(cursor.fetchall())


def _prepared() -> dict[str, str]:
    """The session's prepared webhook statements (the pipeline, which eager mode runs in
    this same session, prepares its own: config/compiled.py)."""
    return {
        name: text
        for name, text in _all_prepared().items()
        if 'INSERT INTO "signals_signal"' in text or 'FROM "webhooks_webhook"' in text
    }


def _send(path, body=BODY):
    return Client().post(path, body, content_type="text/plain")


def test_prepared_once_per_session_and_reused(make_webhook):
    _, path = make_webhook(duplicate_window_seconds=0)
    connection.close()  # a new session
    assert _send(path).status_code == 200
    prepared = _prepared()
    statements = sorted(text.split()[0] for text in prepared.values())
    assert statements == ["INSERT", "SELECT"]
    assert any('INSERT INTO "signals_signal"' in text for text in prepared.values())
    assert any('FROM "webhooks_webhook"' in text for text in prepared.values())
    # A rejected request's row has other parameter types (no payload): its own statement.
    assert _send(path, "{not json").status_code == 400
    prepared = _prepared()
    assert len(prepared) == 3
    for _ in range(3):
        assert _send(path).status_code == 200
        assert _send(path, "{not json").status_code == 400
    assert _prepared() == prepared  # reused, not prepared again


def test_turned_off_nothing_is_prepared(make_webhook, settings):
    settings.DB_PREPARED_STATEMENTS = False
    _, path = make_webhook()
    connection.close()
    assert _send(path).status_code == 200
    assert _send(path, "{not json").status_code == 400
    assert _all_prepared() == {}
