"""docker/: there is no Docker engine here, so check what can be checked: the compose file
parses and wires the services, the Dockerfile has the promised shape, and every entry
point of docker/entrypoint.sh really starts (web answers /healthz, the worker and beat come
up on a Redis of their own, migrate builds a database)."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
ENTRYPOINT = DOCKER / "entrypoint.sh"
VENV_BIN = Path(sys.executable).parent


def _env(tmp_path, **extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_ENV", "SECRET_KEY"}
    }
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        DATABASE_URL=f"sqlite:///{tmp_path / 'docker.sqlite3'}",
        **extra,
    )
    return env


@pytest.fixture
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yml").read_text())


def test_compose_file_is_valid_against_the_compose_specification(compose):
    # docker/compose-spec.schema.json: the Compose Specification's JSON schema (Apache-2.0),
    # as shipped in docker-compose 1.29.2 (compose/config/compose_spec.json).
    schema = json.loads((DOCKER / "compose-spec.schema.json").read_text())
    errors = [
        f"{list(error.path)}: {error.message}"
        for error in jsonschema.Draft7Validator(schema).iter_errors(compose)
    ]
    assert errors == []


def test_compose_names_the_services(compose):
    assert set(compose["services"]) == {"postgres", "redis", "migrate", "web", "worker", "beat"}
    assert compose["services"]["postgres"]["image"] == "postgres:16"
    assert compose["services"]["redis"]["image"] == "redis:7"


@pytest.mark.parametrize("service", ["postgres", "redis", "web", "worker"])
def test_compose_services_have_healthchecks(compose, service):
    assert compose["services"][service]["healthcheck"]["test"]


@pytest.mark.parametrize("service", ["migrate", "web", "worker", "beat"])
def test_compose_app_services_use_the_image_and_a_known_role(compose, service):
    conf = compose["services"][service]
    assert conf["build"]["dockerfile"] == "docker/Dockerfile"
    assert (DOCKER / conf["build"]["context"] / conf["build"]["dockerfile"]).resolve() == (
        DOCKER / "Dockerfile"
    )
    assert conf["command"] == [service]
    assert re.search(rf"^\s+{service}\)", ENTRYPOINT.read_text(), re.MULTILINE)
    env = conf["environment"]
    assert env["DJANGO_ENV"] == "production"
    assert (
        env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
    )
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert {"SECRET_KEY", "FIELD_ENCRYPTION_KEYS"} <= set(env)


def test_compose_app_services_wait_for_healthy_dependencies_and_migrations(compose):
    for service in ("web", "worker"):
        depends = compose["services"][service]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"


def test_dockerfile_is_multi_stage_non_root_and_collects_static():
    text = (DOCKER / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM python:3\.11-slim AS \w+", text, re.MULTILINE)) == 2
    assert "requirements/base.txt" in text
    assert "collectstatic --noinput" in text
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    assert 'ENTRYPOINT ["/app/docker/entrypoint.sh"]' in text
    assert (ROOT / "requirements" / "base.txt").exists()


def test_entrypoint_is_valid_executable_shell():
    assert os.access(ENTRYPOINT, os.X_OK)
    assert subprocess.run(["sh", "-n", str(ENTRYPOINT)]).returncode == 0


def test_entrypoint_passes_other_commands_through(tmp_path):
    result = subprocess.run(
        [str(ENTRYPOINT), "python", "-c", "print('passed through')"],
        cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.stdout.strip() == "passed through"


def test_gunicorn_accepts_the_config():
    result = subprocess.run(
        [str(VENV_BIN / "gunicorn"), "--check-config", "-c", "config/gunicorn.conf.py",
         "config.wsgi"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_celery_app_loads():
    result = subprocess.run(
        [str(VENV_BIN / "celery"), "-A", "config", "report"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "celery" in result.stdout


def test_migrate_entry_builds_the_database(tmp_path):
    result = subprocess.run(
        [str(ENTRYPOINT), "migrate"],
        cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "docker.sqlite3") as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master")}
    assert {"accounts_organization", "signals_signal", "django_migrations"} <= tables


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return None, ""


def _stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


def test_web_entry_serves_healthz_and_keeps_webhook_passwords_out_of_the_log(tmp_path):
    port = free_port()
    env = _env(tmp_path, HOST="127.0.0.1", PORT=str(port), WEB_CONCURRENCY="1", DEBUG="False")
    migrate = subprocess.run(
        [str(ENTRYPOINT), "migrate"], cwd=ROOT, env=env, capture_output=True, timeout=300
    )
    assert migrate.returncode == 0
    process = subprocess.Popen(
        [str(ENTRYPOINT), "web"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        assert _wait_for(lambda: _get(f"{base}/healthz")[0] is not None), "gunicorn never answered"
        status, body = _get(f"{base}/healthz")
        assert status == 200, body
        assert '"database": "ok"' in body
        _get(f"{base}/trading/webhook/6f1c2b7e-8d34-4f7e-9a55-0c3e1a2b4d5f/pw0123456789secret")
        time.sleep(0.5)
    finally:
        output = _stop(process)
    assert "/healthz" in output
    assert "/trading/webhook/6f1c2b7e-8d34-4f7e-9a55-0c3e1a2b4d5f/***" in output
    assert "pw0123456789secret" not in output


@pytest.mark.parametrize(
    "role, ready",
    [("worker", re.compile(r"celery@\S+ ready")), ("beat", re.compile(r"beat: Starting"))],
)
def test_worker_and_beat_entries_start_on_redis(tmp_path, throwaway_redis, role, ready):
    log = tmp_path / f"{role}.log"
    env = _env(
        tmp_path,
        REDIS_URL=throwaway_redis[1],
        CELERY_CONCURRENCY="1",
        CELERY_BEAT_SCHEDULE_FILE=str(tmp_path / "beat-schedule"),
    )
    with log.open("w") as sink:
        process = subprocess.Popen(
            [str(ENTRYPOINT), role], cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
        try:
            started = _wait_for(lambda: ready.search(log.read_text()), timeout=60)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert started, log.read_text()[-2000:]
    if role == "beat":
        # Its state goes where it is told (a writable path for the non-root user).
        assert list(tmp_path.glob("beat-schedule*"))
