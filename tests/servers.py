"""Throwaway local servers for tests that must stop one (stopping the shared Redis would
disturb every other test and the Celery queue)."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_start(port: int | None = None) -> tuple[int, str]:
    """A Redis server of our own on ``port`` (a free one by default: pass the port of one
    stopped earlier to restart it), once it answers."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = port or free_port()
    subprocess.run(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--daemonize", "yes"],
        check=True,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(50):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.1)
    return port, url


def redis_server_stop(port: int) -> None:
    subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)


def run_with_database_down(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` (Django set up by it) in a fresh process whose DATABASE_URL points at a
    port nothing listens on, Redis unset; its last stdout line is the answer."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/nowhere",
        "REDIS_URL": "",
    }
    root = Path(__file__).resolve().parent.parent
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, timeout=60
    )


def gunicorn_start(tmp_path: Path, **extra) -> tuple[subprocess.Popen, int]:
    """The production web server (config/gunicorn.conf.py, one worker) on the embedded
    default (a SQLite file in tmp_path, no Redis), its HOME and XDG_RUNTIME_DIR in tmp_path;
    the process and its port, once it answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", HOST="127.0.0.1", PORT=str(port),
        WEB_CONCURRENCY="1", GUNICORN_ACCESS_LOG="", HOME=str(tmp_path / "home"),
        XDG_RUNTIME_DIR=str(tmp_path / "run"),
    )  # fmt: skip
    env.update(extra)
    for directory in ("home", "run"):
        (tmp_path / directory).mkdir(exist_ok=True)
    root = Path(__file__).resolve().parent.parent
    command = [str(Path(sys.executable).with_name("gunicorn")), "config.wsgi"]
    command += ["-c", "config/gunicorn.conf.py"]
    proc = subprocess.Popen(command, cwd=root, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return proc, port
        except urllib.error.HTTPError:
            return proc, port  # answering (503 without a migrated database is fine)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError("gunicorn never answered") from None
            time.sleep(0.2)
