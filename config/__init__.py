from config.redaction import install as _install_log_redaction

# Before anything logs: every process that imports the project redacts its log records.
_install_log_redaction()

from config.celery import app as celery_app  # noqa: E402

__all__ = ("celery_app",)
