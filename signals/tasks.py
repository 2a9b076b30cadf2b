from celery import shared_task
from django.utils import timezone

from signals.models import Signal


@shared_task(name="signals.process_signal", acks_late=True)
def process_signal(signal_id: str) -> None:
    # Placeholder until the pipeline lands: only marks the signal as picked up.
    Signal.objects.filter(pk=signal_id, status=Signal.Status.PENDING).update(
        processing_started_at=timezone.now()
    )
