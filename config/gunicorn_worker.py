"""gunicorn's sync worker, with a bound on how long it waits for a client.

The sync worker reads a request from a blocking socket with no timeout: a client that
declares ``Content-Length: 100`` and sends 10 bytes holds the worker until gunicorn's
``timeout`` kills it (30 s, then a 500 and a worker restart; four such clients stalled all
four workers). Here each read from the client waits at most GUNICORN_CLIENT_TIMEOUT seconds:
a stalled body fails the read, the webhook gets its 400 (and its log row), and the worker
is free again. A client trickling a byte per interval still holds its worker up to
``timeout``: only a buffering proxy in front (docker/nginx.conf) takes that off the
workers. Relies on gunicorn 27's SyncWorker.handle(listener, client, addr) receiving the
accepted socket (tests/test_gunicorn.py starts the real server)."""

import os

from gunicorn.workers.sync import SyncWorker as GunicornSyncWorker

CLIENT_TIMEOUT = float(os.environ.get("GUNICORN_CLIENT_TIMEOUT", "5"))


class SyncWorker(GunicornSyncWorker):
    def handle(self, listener, client, addr):
        client.settimeout(CLIENT_TIMEOUT)
        super().handle(listener, client, addr)
