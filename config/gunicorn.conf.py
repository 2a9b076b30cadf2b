"""gunicorn settings for `gunicorn config.wsgi -c config/gunicorn.conf.py`, from the
environment like everything else (see .env.example)."""

import gc
import os
import sys

from gunicorn.glogging import Logger

# Importing the project installs the log redaction (config/__init__.py) in the master, and
# so in every worker it forks: request lines, Referers and "Error handling request ..."
# lines carry webhook passwords and API keys. (Not bound as `config`: gunicorn reads every
# module-level name of this file that matches one of its settings, and `config` is one.)
from config import redaction as _redaction  # noqa: F401

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104 (in a container)
# Processes, not threads, give a request its CPU: on the 2-core benchmark machine 4
# workers x 1 thread spent ~0.3 ms less CPU per webhook than 3 x 4 (GIL hand-offs between
# threads) and served more of them (docs/benchmarks.md, Ingestion).
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# sync: a worker takes one connection at a time from the shared listening socket and closes
# it after the answer, so whichever worker is free takes the next request. gthread keeps a
# keep-alive connection on the worker that accepted it: a client opening its connections
# in a burst left some workers with most of them and others with none, idle for as long as
# the connections lasted (saturation 417-897/s for gthread, 869-948/s for sync, interleaved
# on the benchmark machine; docs/benchmarks.md, Ingestion). Webhook senders connect per
# alert, and the TLS-terminating proxy in front (README) holds slow and idle clients. With
# more than one thread gunicorn uses gthread whatever this says. "sync" is gunicorn's sync
# worker with a bound on each read from the client (config/gunicorn_worker.py; its class
# name ends in SyncWorker, so `--threads 4` still turns it into gthread).
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
if worker_class == "sync":
    worker_class = "config.gunicorn_worker.SyncWorker"
# TradingView gives up after about 3 s; a request still running after this is stuck.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# What a request may be before the application sees it; past these gunicorn answers with
# its own HTML page (414 for the line, 431 for the headers; docs/webhooks.md). A webhook
# URL is about 90 characters and its senders add a handful of headers; the REST API's
# longest query strings stay well under 4 KB; 8 KB per header leaves room for cookies.
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
# gunicorn 25.1+ listens for gunicornc on a control socket at one path per user
# ($XDG_RUNTIME_DIR/gunicorn.ctl or $HOME/.gunicorn/gunicorn.ctl): a second server on the
# host (tests, benchmarks, another instance) took it over from the first. Off unless
# GUNICORN_CONTROL_SOCKET names this server's own path.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
graceful_timeout = 30
keepalive = 5  # gthread only: sync closes every connection after its answer
# Recycle workers now and then so a slow leak never becomes an outage. Not every few
# seconds: a new worker re-imports Django (about a second of CPU) and reconnects, and at
# hundreds of webhooks per second a limit of a few thousand requests did that constantly.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "100000"))
max_requests_jitter = max_requests // 10
# "-" is stdout (stderr for the error log); empty turns the access log off.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = os.environ.get("GUNICORN_ERROR_LOG", "-") or "-"
forwarded_allow_ips = os.environ.get("TRUSTED_PROXIES", "127.0.0.1")


class QuietWebhookLogger(Logger):
    def access(self, resp, req, environ, request_time):
        # An accepted webhook is already recorded, with its source IP, time and body, in
        # the signal log; a second line here cost ~0.15 ms of CPU per request at hundreds
        # per second. Webhook errors, 404s and every other path are still logged.
        if str(resp.status).startswith("200") and environ.get("PATH_INFO", "").startswith(
            "/trading/webhook/"
        ):
            return
        super().access(resp, req, environ, request_time)

    def exception(self, msg, *args, **kwargs):
        # A client that stopped sending (a read waited GUNICORN_CLIENT_TIMEOUT; see
        # config/gunicorn_worker.py) is the client's doing: one line, not an ERROR with a
        # traceback per connection that a few slow clients could fill the log with.
        if isinstance(sys.exc_info()[1], TimeoutError):
            self.warning("%s A client sent nothing for too long; connection closed.", msg)
            return
        super().exception(msg, *args, **kwargs)


logger_class = QuietWebhookLogger


def post_worker_init(worker):
    # Before the worker accepts anything: import the URLconf, connect, compile (0.3 s of
    # CPU the first webhook used to wait for; config/warmup.py). Then move everything
    # loaded so far into the permanent generation: a full collection no longer walks
    # Django's ~115,000 long-lived objects (60-200 ms pauses inside requests on the
    # benchmark machine), only what requests leave behind.
    from config.warmup import warm_up

    warm_up()
    gc.collect()
    gc.freeze()
