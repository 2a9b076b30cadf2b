"""A gunicorn worker does its first-request work before it accepts requests
(config/warmup.py, post_worker_init in config/gunicorn.conf.py), and starts even when a
dependency is down."""

import gc
import json
import runpy
import sys
from pathlib import Path

import pytest

from config.warmup import warm_up
from tests.servers import run_with_database_down

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_every_step_runs_and_nothing_is_written():
    from signals.models import Signal

    assert warm_up() == []
    assert "config.api_urls" in sys.modules  # the whole URLconf is imported
    assert not Signal.objects.exists()


def test_a_database_that_is_down_skips_its_step_only():
    code = (
        "import django, json; django.setup();"
        "from config.warmup import warm_up;"
        "print(json.dumps(warm_up()))"
    )
    result = run_with_database_down(code)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["database"]
    assert "database skipped (OperationalError)" in result.stderr


@pytest.mark.django_db
def test_the_gunicorn_hook_warms_up_then_freezes_the_heap():
    hooks = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    gc.unfreeze()
    try:
        hooks["post_worker_init"](worker=None)
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
