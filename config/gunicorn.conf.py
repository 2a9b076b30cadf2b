"""gunicorn settings for `gunicorn config.wsgi -c config/gunicorn.conf.py`, from the
environment like everything else (see .env.example)."""

import os

from gunicorn.glogging import Logger

from config.redaction import redact

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104 (in a container)
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
# Threads let a worker keep answering webhooks while another request waits on the database.
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
# TradingView gives up after about 3 s; a request still running after this is stuck.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak never becomes an outage. Not every few
# seconds: a new worker re-imports Django (about a second of CPU) and reconnects, and at
# hundreds of webhooks per second a limit of a few thousand requests did that constantly.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "100000"))
max_requests_jitter = max_requests // 10
# "-" is stdout; empty turns the access log off.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
forwarded_allow_ips = os.environ.get("TRUSTED_PROXIES", "127.0.0.1")


# Request lines carry webhook passwords and ?apiKey= values: never log them as they are.
class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name in ("r", "U", "q"):
            if isinstance(atoms.get(name), str):
                atoms[name] = redact(atoms[name])
        return atoms


logger_class = RedactingLogger
