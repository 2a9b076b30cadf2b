import pytest

from config.celery import app as celery_app
from signals.models import Signal

pytestmark = pytest.mark.django_db

TP = {"ticker": "AMD", "action": "buy"}


@pytest.fixture
def broker_down(monkeypatch):
    """A real broker connection to a port nothing listens on (Redis "down")."""
    monkeypatch.setattr(celery_app.conf, "task_always_eager", False)
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:9/0")
    monkeypatch.setattr(celery_app.conf, "broker_connection_timeout", 0.5)
    monkeypatch.setattr(celery_app.conf, "broker_transport_options", {"max_retries": 0})
    # Fresh connection and producer pools for this broker; the app's own come back after.
    monkeypatch.setattr(celery_app, "_pool", None)
    monkeypatch.setattr(celery_app.amqp, "_producer_pool", None)
    yield
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()


def test_accepted_even_when_the_queue_is_down(
    make_webhook, client, broker_down, caplog, django_capture_on_commit_callbacks
):
    _, path = make_webhook()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(
            path, data=TP, content_type="application/json", REMOTE_ADDR="1.2.3.4"
        )
    assert response.status_code == 200 and len(callbacks) == 1
    signal = Signal.objects.get()
    # Left PENDING, untouched, for the sweep; the failure is logged without secrets.
    assert signal.status == Signal.Status.PENDING and signal.processing_started_at is None
    assert "could not enqueue signal" in caplog.text
    assert path.rsplit("/", 1)[1] not in caplog.text


def test_a_forked_worker_names_itself_in_the_messages_it_publishes():
    # signals.queue builds the unchanging part of its messages once per process; a
    # gunicorn worker is a fork, and its messages must name it, not its parent.
    import json
    import multiprocessing

    from celery.utils.nodenames import anon_nodename

    from signals.queue import process_signal_message

    def origin() -> str:
        return json.loads(process_signal_message("x", queue="q"))["headers"]["origin"]

    assert origin() == anon_nodename()  # cached in this process now
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child_origin, child_name = pool.apply(_origin_in_child)
    assert child_origin == child_name != anon_nodename()


def _origin_in_child():
    import json

    from celery.utils.nodenames import anon_nodename

    from signals.queue import process_signal_message

    return json.loads(process_signal_message("x", queue="q"))["headers"]["origin"], anon_nodename()
