"""What the benchmark scripts share: a database of their own, its schema, stopping the
servers they start (each started in a process group of its own), and the HTTP/1.1 client
connection their load generators post with."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit


def db_url(base: str, name: str) -> str:
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


def recreate_database(base_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(db_url(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def create_schema() -> None:
    """Tables straight from the models, as pytest --nomigrations does (a bench measures
    the request path, not the migration history), and the ticker database."""
    import django

    django.setup()
    from django.apps import apps
    from django.conf import settings
    from django.core.management import call_command

    settings.MIGRATION_MODULES = {app.label: None for app in apps.get_app_configs()}
    call_command("migrate", run_syncdb=True, verbosity=0)
    from brokers.instruments import instruments_load

    instruments_load()


def stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def add_common_arguments(parser) -> None:
    import argparse

    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""))
    parser.add_argument(
        "--no-rate-limits", action="store_true", help="RATELIMIT_ENABLE=false for the servers"
    )
    # The parent re-runs the script with --setup in a child process, so Django is configured
    # for the bench database there and not in the parent.
    parser.add_argument("--setup", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--setup-out", help=argparse.SUPPRESS)


def run_setup_child(parser, args, setup, root) -> bool:
    """Run ``setup`` if this is the setup child (and say so); else check the servers named."""
    if args.setup is not None:
        import sys
        from pathlib import Path

        sys.path.insert(0, str(root))
        setup(args.setup, Path(args.setup_out))
        return True
    if not args.database_url.startswith("postgres") or not args.redis_url:
        parser.error("needs DATABASE_URL (PostgreSQL server) and REDIS_URL")
    return False


def server_env(args, dsn: str) -> dict:
    """The servers' environment: production code paths on the bench database and a Celery
    queue of the bench's own. Rate limits stay on as in production, every request counted,
    with the limits raised far above the bench's load (10 webhooks at 200/s would be
    past the default 60 a minute within the first second); ``--no-rate-limits`` turns them
    off, as the benches did before 2026-11-21's third session."""
    env = dict(os.environ)
    high = str(10**9)
    env.update(
        DATABASE_URL=dsn,
        REDIS_URL=args.redis_url,
        RATELIMIT_ENABLE="false" if args.no_rate_limits else "true",
        WEBHOOK_RATE_PER_MINUTE=high,
        WEBHOOK_RATE_PER_HOUR=high,
        API_KEY_RATE_PER_MINUTE=high,
        DEBUG="false",
        LOG_LEVEL="ERROR",
        CELERY_QUEUE=args.queue,
        CONN_MAX_AGE="600",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    return env


def wait_port(port: int, timeout: float = 30) -> bool:
    import socket
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


class Connection:
    """One HTTP/1.1 client connection on loopback: keep-alive while the server keeps it,
    a new connection for the next request after the server closed it (gunicorn's sync
    workers close every connection after its answer)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.writer.get_extra_info("socket").setsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
            )
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        length, closing = 0, False
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"connection" and value.strip().lower() == b"close":
                closing = True
        payload = await self.reader.readexactly(length)
        if closing:
            self.close()
        return status, payload

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def machine() -> dict:
    """What the figures were measured on: cores, memory, Python, load just before."""
    meminfo = "/proc/meminfo"
    total = "0"
    if os.path.exists(meminfo):
        with open(meminfo) as lines:
            total = lines.readline().split()[1]
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(int(total) / 1024 / 1024, 1),
        "python": sys.version.split()[0],
        "load_avg_1m_before": os.getloadavg()[0],
    }
