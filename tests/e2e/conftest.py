"""A real Celery worker (prefork, 2 processes) on the real Redis, against the pytest test
database: what CI runs end to end. Skipped without REDIS_URL (the embedded SQLite default
cannot be shared with another process)."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")


def _database_url() -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="module")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    if not settings.REDIS_URL or connection.vendor != "postgresql":
        pytest.skip("end-to-end tests need REDIS_URL and DATABASE_URL (PostgreSQL)")
    queue = f"e2e-{uuid.uuid4().hex[:10]}"
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    worker = worker_start(redis_url=settings.REDIS_URL, queue=queue, log=log)
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    try:
        yield worker
    finally:
        celery_app.conf.task_default_queue = previous
        worker_stop(worker)


def worker_start(*, redis_url: str, queue: str, log: Path, **env) -> subprocess.Popen:
    """A Celery worker (prefork, 2 processes) consuming ``queue`` on ``redis_url``, against
    the test database, once it is ready; its output in ``log``. ``env``: more settings."""
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": redis_url,
        "CELERY_QUEUE": queue,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        **env,
    }
    command = [str(CELERY), "-A", "config", "worker", "-P", "prefork", "-c", "2", "-Q", queue]
    command += ["--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "info"]
    with log.open("ab") as out:
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_ready(worker, log)
    except BaseException:
        worker_stop(worker)
        raise
    return worker


def worker_stop(worker: subprocess.Popen) -> None:
    if worker.poll() is not None:
        return
    worker.terminate()
    try:
        worker.wait(timeout=15)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


@pytest.fixture
def worker(celery_worker_process):
    """The running worker, for one test (after the autouse fixture turned eager mode off:
    the worker, not this process, must run the tasks)."""
    assert not celery_app.conf.task_always_eager
    assert celery_worker_process.poll() is None
    return celery_worker_process


def _wait_ready(worker: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            pytest.fail(f"celery worker exited:\n{log.read_text()[-3000:]}")
        if "ready." in log.read_text():
            return
        time.sleep(0.2)
    pytest.fail(f"celery worker not ready in {timeout} s:\n{log.read_text()[-3000:]}")


def wait_for(predicate, timeout: float = 20, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met in {timeout} s")
