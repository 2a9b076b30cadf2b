import gc
import logging
import os
import uuid

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("traderelay")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)


@task_prerun.connect
@task_postrun.connect
def _database_between_tasks(sender=None, **kwargs) -> None:
    """A worker keeps its database connection from task to task, as a web worker does from
    request to request: closed when CONN_MAX_AGE has passed or after an error (Django's
    rule), and checked before reuse when CONN_HEALTH_CHECKS is on. Celery's own fixup
    would open a new connection for every task (settings.CELERY_DB_REUSE_MAX). Eager tasks
    run inside the caller's request or transaction: theirs is left alone."""
    if sender is None or getattr(sender.request, "is_eager", False):
        return
    from django.db import close_old_connections, connection

    from signals.lanes import lanes_held

    if lanes_held():
        # A lane lock outliving its task would block that ticker: ending the session is
        # what releases it for certain.
        logger.error("a lane lock outlived its task; closing the database connection")
        connection.close()
    close_old_connections()


@worker_process_init.connect
def _warm_up_worker_process(**kwargs) -> None:
    """A worker process, just forked: connect and compile the lane's opening statement
    (the pipeline's way in, on a signal id nothing has: nothing is written), then move
    everything loaded so far out of the garbage collector's way (``gc.freeze()``), as
    gunicorn's workers do (config/gunicorn.conf.py): a full collection then walks only
    what tasks leave behind, not Django's and Celery's ~100,000 long-lived objects, which
    took tens of milliseconds in the middle of a signal."""
    try:
        from signals.pipeline import signal_process

        signal_process(signal_id=uuid.UUID(int=0))
    except Exception as exc:  # the database is down while the worker starts: tasks retry
        logger.warning("worker warm-up skipped: %s", exc.__class__.__name__)
    gc.collect()
    gc.freeze()
