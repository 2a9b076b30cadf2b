"""config/gunicorn.conf.py, served for real (the embedded SQLite default, one worker): its
request limits, and no control socket at the per-user path two servers would share."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")


def _serve(tmp_path: Path, **extra) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", HOST="127.0.0.1", PORT=str(port),
        WEB_CONCURRENCY="1", GUNICORN_ACCESS_LOG="", HOME=str(tmp_path / "home"),
        XDG_RUNTIME_DIR=str(tmp_path / "run"), **extra,
    )  # fmt: skip
    for directory in ("home", "run"):
        (tmp_path / directory).mkdir(exist_ok=True)
    command = [str(GUNICORN), "config.wsgi", "-c", "config/gunicorn.conf.py"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return proc, port
        except urllib.error.HTTPError:
            return proc, port  # answering (503 without a migrated database is fine)
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "no server"
            time.sleep(0.2)


@pytest.fixture
def server(tmp_path):
    proc, port = _serve(tmp_path)
    yield port
    proc.terminate()
    proc.wait(timeout=30)


def _status(port: int, raw: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


def _get(target: str = "/healthz", headers: list[str] = ()) -> bytes:
    head = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode()


@pytest.mark.parametrize(
    "raw, status",
    [
        (_get("/healthz?" + "a" * 4000), 200),
        (_get("/healthz?" + "a" * 4100), 414),
        (_get(headers=[f"X-H{i}: 1" for i in range(45)]), 200),
        (_get(headers=[f"X-H{i}: 1" for i in range(60)]), 431),
        (_get(headers=["X-Big: " + "b" * 8000]), 200),
        (_get(headers=["X-Big: " + "b" * 8300]), 431),
    ],
    ids=["line-4000", "line-4100", "45-headers", "60-headers", "header-8000", "header-8300"],
)
def test_request_limits(server, raw, status):
    assert _status(server, raw) in ({status} if status != 200 else {200, 503})


def test_no_control_socket_at_the_path_every_server_of_the_user_shares(tmp_path, server):
    assert list((tmp_path / "home").rglob("*.ctl")) == []
    assert list((tmp_path / "run").rglob("*.ctl")) == []


def test_a_control_socket_when_asked_for_is_this_servers_own(tmp_path):
    path = tmp_path / "this-server.ctl"
    proc, _ = _serve(tmp_path, GUNICORN_CONTROL_SOCKET=str(path))
    try:
        deadline = time.monotonic() + 10
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert path.is_socket()
        assert list((tmp_path / "run").rglob("*.ctl")) == []
    finally:
        proc.terminate()
        proc.wait(timeout=30)
