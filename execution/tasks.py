from celery import shared_task

from execution.reconcile import reconcile


@shared_task(name="execution.reconcile", acks_late=True, ignore_result=True)
def reconcile_task() -> dict:
    """Beat runs it every RECONCILE_INTERVAL_SECONDS; a pass is idempotent, so an overlap or
    a redelivery only asks the brokers twice."""
    return reconcile().as_dict()
