import logging
import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

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
