"""config/gunicorn.conf.py, served for real (the embedded SQLite default, one worker): its
request limits, and no control socket at the per-user path two servers would share."""

import socket
import time
from pathlib import Path

import pytest

from tests.servers import gunicorn_start

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def server(tmp_path):
    proc, port = gunicorn_start(tmp_path)
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
    proc, _ = gunicorn_start(tmp_path, GUNICORN_CONTROL_SOCKET=str(path))
    try:
        deadline = time.monotonic() + 10
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert path.is_socket()
        assert list((tmp_path / "run").rglob("*.ctl")) == []
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize(
    "threads, expected", [(1, "config.gunicorn_worker.SyncWorker"), (4, "gthread")]
)
def test_the_sync_worker_still_becomes_gthread_with_threads(threads, expected):
    import runpy

    from gunicorn.config import Config

    values = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    config = Config()
    for name, value in values.items():
        if name in config.settings and name != "config":
            config.set(name, value)
    config.set("threads", threads)  # as `--threads 4` on the command line does
    assert config.worker_class_str == expected
