"""config.redaction: secrets are masked however a client spelled the path, and every log
record of a process is redacted, whichever logger, handler or formatter writes it."""

import io
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from config.redaction import redact
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
HOOK = "6f1c2b7e-8d34-4f7e-9a55-0c3e1a2b4d5f"
PW = "9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a"
KEY = "tr_abcd1234_Zx9-Q_secretsecretsecretsecret"


@pytest.mark.parametrize(
    "text",
    [
        f"Not Found: /trading/webhook/{HOOK}/{PW}",
        f'"POST /trading/webhook/{HOOK}/{PW} HTTP/1.1" 400 12 "-" "-"',
        f"/trading/webhook/{HOOK}%2F{PW}",
        f"/trading/webhook/{HOOK}%2f{PW}",
        f"/trading/webhook/{HOOK}%252F{PW}",
        f"/trading/webhook/{HOOK}%25252f{PW}",
        f"/trading%2Fwebhook%2F{HOOK}%2F{PW}",
        f"//trading/webhook/{HOOK}/{PW}",
        f"/trading//webhook/{HOOK}/{PW}",
        f"/trading/webhook//{HOOK}//{PW}",
        f"///trading///webhook///{HOOK}///{PW}///",
        f"/TRADING/WEBHOOK/{HOOK}/{PW}",
        f"/tr%61ding/webhook/{HOOK}/{PW}",
        f"/trading/webhook/{HOOK.upper()}/{PW.upper()}",
        f"/trading/webhook/{HOOK}%5C{PW}",
        f"/trading/webhook/{HOOK}\\{PW}",
        f"/trading/webhook/{HOOK}{PW}",
        f"/trading/webhook/{PW}",
        f"/trading/webhook/{HOOK}/{PW}/extra?x=1",
        f"Referer: https://example.com/trading/webhook/{HOOK}/{PW}",
        f"Invalid HTTP request line: 'POST /trading/webhook/{HOOK}/{PW}\\x00 HTTP/1.1'",
        f"Error handling request POST /trading/webhook/{HOOK}/{PW}",
        f"b'/trading/webhook/{HOOK}/{PW}'",
        f"/%25252574rading/webhook/{HOOK}/{PW}",
        f"/x/webhook/{HOOK}/{PW}",
        f"/trading/webhook/{HOOK}%25252525252525252525252F{PW}",
        f"/trading%{'25' * 12}2Fwebhook%{'25' * 12}2F{HOOK}%{'25' * 12}2F{PW}",
    ],
)
def test_a_webhook_password_is_masked_however_the_path_is_spelled(text):
    cleaned = redact(text)
    assert PW not in cleaned.lower() and PW.upper() not in cleaned
    assert "***" in cleaned


@pytest.mark.parametrize(
    "text",
    [
        f"GET /api/v1/signals/ingest?apiKey={KEY}",
        f"GET /api/v1/signals/ingest?a=1&apiKey={KEY}&b=2",
        f"GET /api/v1/signals/ingest?x=1;APIKEY={KEY}",
        f"GET /api/v1/signals/ingest?api%4Bey={KEY}",
        f"GET /api/v1/signals/ingest?apiKey%3D{KEY}",
        f"GET /api/v1/signals/ingest?apiKey={KEY.replace('_', '%5F')}",
        f"GET /api/v1/signals/ingest?api_key={KEY}",
        "GET /api/v1/signals/ingest?apiKey=not-shaped-like-ours",
        f"X-API-Key: {KEY}",
        f"{{'HTTP_X_API_KEY': '{KEY}', 'PATH_INFO': '/'}}",
        "x-api-key=someone-elses-key",
        f"key {KEY} revoked",
    ],
)
def test_an_api_key_is_masked_wherever_it_appears(text):
    cleaned = redact(text)
    assert KEY not in cleaned and "secretsecret" not in cleaned
    assert "someone-elses-key" not in cleaned and "not-shaped-like-ours" not in cleaned
    assert "***" in cleaned


@pytest.mark.parametrize(
    "text, kept",
    [
        (f"Not Found: /trading/webhook/{HOOK}%2F{PW}", f"/trading/webhook/{HOOK}/***"),
        (f"/trading/webhook/{HOOK}/{PW}?a=1", f"/trading/webhook/{HOOK}/***?a=1"),
        (f"/x?apiKey={KEY}&b=2", "/x?apiKey=***&b=2"),
        (f"key {KEY} revoked", "key tr_abcd1234_*** revoked"),
        (
            f'"https://x.example//trading/webhook/{HOOK}/{PW}"',
            f"https://x.example/trading/webhook/{HOOK}/***",
        ),
    ],
)
def test_what_identifies_the_request_is_kept(text, kept):
    assert kept in redact(text)


@pytest.mark.parametrize(
    "text",
    [
        "GET /healthz",
        "/trading/webhook/",
        f"/trading/webhook/{HOOK}",
        f"/trading/webhook/{HOOK}/",
        "apiKeyName=x",
        "POST /api/v1/orders/",
        "100% done",
        "progress 50%2F",
        "signal 1b2c3d4e-0000-4000-8000-123456789abc failed",
        f"GET /api/v1/webhooks/{HOOK}/ HTTP/1.1",
        f"POST /api/v1/webhooks/{HOOK}/regenerate/",
    ],
)
def test_other_text_is_left_alone(text):
    assert redact(text) == text


def _fresh_handler_output(logger: logging.Logger) -> io.StringIO:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    return stream


def test_any_logger_and_handler_writes_redacted_records():
    # A logger and handler nobody configured, as a library would add them.
    logger = logging.getLogger(f"tests.redaction.{id(object())}")
    stream = _fresh_handler_output(logger)
    logger.warning("Error handling request %s %s", "POST", f"/trading/webhook/{HOOK}/{PW}")
    logger.warning("%(r)s", {"r": f"GET /api/v1/signals/ingest?apiKey={KEY}"})
    assert PW not in stream.getvalue() and KEY not in stream.getvalue()
    assert f"/trading/webhook/{HOOK}/***" in stream.getvalue()


def test_tracebacks_and_stacks_are_redacted_too():
    logger = logging.getLogger(f"tests.redaction.{id(object())}")
    stream = _fresh_handler_output(logger)
    try:
        raise ValueError(f"bad path /trading/webhook/{HOOK}%2F{PW}")
    except ValueError:
        logger.exception("request failed")
    logger.warning(f"stack of {KEY}", stack_info=True)
    output = stream.getvalue()
    assert "ValueError: bad path" in output and "Stack (most recent call last)" in output
    assert PW not in output and KEY not in output


def test_every_process_of_the_project_redacts_from_its_first_import():
    # Nothing but importing the project (as gunicorn's config, manage.py and celery -A
    # config do): no Django setup, no LOGGING, a plain basicConfig handler.
    code = (
        "import logging, config; logging.basicConfig();"
        f"logging.getLogger('x').warning('/trading/webhook/{HOOK}/{PW}')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert f"/trading/webhook/{HOOK}/***" in result.stderr and PW not in result.stderr


def test_runserver_make_run_logs_no_password(tmp_path):
    # `make run` serves with Django's runserver, whose request lines go to django.server.
    # The database is not migrated: the 500's traceback is written, and redacted, too.
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    log = tmp_path / "runserver.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/trading/webhook/{HOOK}%2F{PW}?apiKey={KEY}",
                    data=b"{", headers={"Referer": f"http://x/trading/webhook/{HOOK}/{PW}"},
                )  # fmt: skip
                urllib.request.urlopen(request, timeout=5)
            except urllib.error.HTTPError:
                break  # answered (a 4xx)
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = log.read_text()
    assert f"/trading/webhook/{HOOK}/***" in text
    assert PW not in text and KEY not in text
