"""Configuration from the environment: the embedded default, the PostgreSQL + Redis switch,
production refusing to start without real secrets and passing check --deploy, .env.example
covering every variable, and URL secrets kept out of logs. Settings are module-level, so
each case runs in a fresh process."""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
CONFIG_VARS = {"DJANGO_ENV", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL", "REDIS_URL"}


def _env(**overrides) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS and k != "DEBUG"}
    base.update({"DJANGO_SETTINGS_MODULE": "config.settings", **overrides})
    return {k: v for k, v in base.items() if v is not None}


def _run(args, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], env=_env(**env), cwd=ROOT, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def _settings(*names, **env) -> dict:
    code = (
        "import django, json; django.setup(); from django.conf import settings as s;"
        f"print(json.dumps({{n: str(getattr(s, n)) for n in {list(names)!r}}}))"
    )
    result = _run(["-c", code], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _production_env(**overrides) -> dict:
    env = {
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "example.com",
        "DATABASE_URL": os.environ.get("DATABASE_URL", "sqlite:////tmp/traderelay-deploy.db"),
    }
    env.update(overrides)
    return env


def test_embedded_default_with_nothing_set():
    found = _settings(
        "DATABASES", "CACHES", "CELERY_TASK_ALWAYS_EAGER", "CELERY_BROKER_URL", "DEBUG"
    )
    assert "sqlite3" in found["DATABASES"]
    assert "LocMemCache" in found["CACHES"]
    assert found["CELERY_TASK_ALWAYS_EAGER"] == "True"
    assert found["CELERY_BROKER_URL"] == "memory://"
    assert found["DEBUG"] == "True"


def test_database_and_redis_urls_switch_to_postgres_and_redis():
    found = _settings(
        "DATABASES", "CACHES", "CELERY_TASK_ALWAYS_EAGER", "CELERY_BROKER_URL",
        DATABASE_URL="postgres://u:p@db.internal:5432/tr",
        REDIS_URL="redis://cache.internal:6379/3",
    )  # fmt: skip
    assert "django.db.backends.postgresql" in found["DATABASES"]
    assert "'connect_timeout': 5" in found["DATABASES"]
    assert "db.internal" in found["DATABASES"]
    assert "RedisCache" in found["CACHES"] and "cache.internal:6379/3" in found["CACHES"]
    assert found["CELERY_TASK_ALWAYS_EAGER"] == "False"
    assert found["CELERY_BROKER_URL"] == "redis://cache.internal:6379/3"


@pytest.mark.parametrize(
    "overrides, complaint",
    [
        ({"SECRET_KEY": None}, "SECRET_KEY"),
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"SECRET_KEY": "too-short"}, "SECRET_KEY"),
        ({"SECRET_KEY": "ab" * 40}, "SECRET_KEY"),
        ({"SECRET_KEY": "django-insecure-" + secrets.token_urlsafe(60)}, "SECRET_KEY"),
        ({"FIELD_ENCRYPTION_KEYS": None}, "FIELD_ENCRYPTION_KEYS"),
        ({"FIELD_ENCRYPTION_KEYS": "not-a-fernet-key"}, "FIELD_ENCRYPTION_KEYS"),
    ],
)
def test_production_refuses_to_start_without_real_secrets(overrides, complaint):
    result = _run(["manage.py", "check"], **_production_env(**overrides))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert complaint in result.stderr


def test_production_passes_check_deploy_without_warnings():
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **_production_env()
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_are_hardened():
    found = _settings(
        "DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS", "ALLOWED_HOSTS",
        **_production_env(),
    )  # fmt: skip
    assert found["DEBUG"] == "False"
    assert found["SESSION_COOKIE_SECURE"] == found["CSRF_COOKIE_SECURE"] == "True"
    assert found["SECURE_SSL_REDIRECT"] == "True"
    assert int(found["SECURE_HSTS_SECONDS"]) >= 31536000
    assert found["ALLOWED_HOSTS"] == "['example.com']"


def _env_names_read_by_settings() -> set[str]:
    source = (ROOT / "config" / "settings.py").read_text()
    return set(re.findall(r"""\benv(?:\.\w+)?\(\s*["']([A-Z0-9_]+)["']""", source))


def _env_names_read_by_gunicorn_config() -> set[str]:
    files = ("gunicorn.conf.py", "gunicorn_worker.py")
    source = "".join((ROOT / "config" / name).read_text() for name in files)
    return set(re.findall(r"""\bos\.environ\.get\(\s*["']([A-Z0-9_]+)["']""", source))


def _env_example() -> dict[str, str]:
    entries = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"^(# )?([A-Z0-9_]+)=(.*)$", line)
        if match:
            entries[match.group(2)] = None if match.group(1) else match.group(3)
    return entries


def test_env_example_lists_every_variable_settings_reads():
    read = _env_names_read_by_settings()
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS"} <= read
    missing = read - set(_env_example())
    assert not missing, f".env.example lacks {sorted(missing)}"


def test_env_example_lists_nothing_that_is_not_read():
    gunicorn = _env_names_read_by_gunicorn_config()
    assert {"PORT", "WEB_CONCURRENCY", "GUNICORN_WORKER_CLASS"} <= gunicorn
    read = _env_names_read_by_settings() | gunicorn
    assert set(_env_example()) - read == set()


def test_env_example_values_as_given_make_a_working_configuration():
    active = {k: v for k, v in _env_example().items() if v is not None}
    result = _run(["manage.py", "check"], **active)
    assert result.returncode == 0, result.stderr


WEBHOOK_PATH = (
    "/trading/webhook/6f1c2b7e-8d34-4f7e-9a55-0c3e1a2b4d5f/9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a"
)


def test_configured_logging_never_prints_a_webhook_password():
    code = (
        "import django, logging; django.setup();"
        f"logging.getLogger('django.request').warning('Not Found: %s', {WEBHOOK_PATH!r})"
    )
    result = _run(["-c", code], DEBUG="False")
    assert result.returncode == 0, result.stderr
    assert "Not Found: /trading/webhook/6f1c2b7e-8d34-4f7e-9a55-0c3e1a2b4d5f/***" in result.stderr
    assert "9b1d3f5a" not in result.stderr
