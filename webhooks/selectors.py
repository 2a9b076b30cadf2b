import uuid

from webhooks.models import Webhook


def webhook_get_for_ingest(*, webhook_id: str) -> Webhook | None:
    """The webhook a URL names, with its organization (one query), or None when the id is
    unknown or not a UUID at all (both answer not-found)."""
    try:
        pk = uuid.UUID(str(webhook_id))
    except ValueError:
        return None
    return Webhook.objects.select_related("organization").filter(pk=pk).first()
