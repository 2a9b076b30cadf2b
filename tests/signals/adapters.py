"""Stand-ins for a remote broker's misbehaviour, built on the paper broker (the only thing
tests may stand in for). Registered per test with ``use_adapter``."""

import threading
import time

from brokers.adapters import ADAPTERS
from brokers.adapters.base import TransientBrokerError
from brokers.adapters.paper import PaperAdapter


class FlakyAdapter(PaperAdapter):
    """The first ``failures`` submissions time out: before reaching the broker, or (with
    ``after_placing``) after it placed the order, like a response lost on the way back."""

    failures = 0
    after_placing = False
    calls = 0
    _lock = threading.Lock()

    def submit_order(self, request):
        with self._lock:
            type(self).calls += 1
            failing = type(self).calls <= type(self).failures
        if failing and not self.after_placing:
            raise TransientBrokerError("broker timed out (503)")
        update = super().submit_order(request)
        if failing:
            raise TransientBrokerError("broker timed out after accepting (504)")
        return update


class SlowAdapter(PaperAdapter):
    """Every submission takes a while, so two workers' tasks overlap."""

    delay = 0.3
    spans: list = []  # (start, end) of each submission, to see what overlapped

    def submit_order(self, request):
        start = time.monotonic()
        time.sleep(self.delay)
        try:
            return super().submit_order(request)
        finally:
            type(self).spans.append((start, time.monotonic()))


def use_adapter(monkeypatch, account, adapter_class, **attributes):
    name = adapter_class.__name__.lower()
    monkeypatch.setitem(ADAPTERS, name, f"{adapter_class.__module__}.{adapter_class.__name__}")
    for key, value in {"calls": 0, **attributes}.items():
        monkeypatch.setattr(adapter_class, key, value, raising=False)
    account.broker = name
    account.save(update_fields=["broker"])
