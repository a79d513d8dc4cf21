"""Celery app objects for the Python tests: configured, never connected to a broker."""

import pytest

from celery import Celery


def seed_doc_app(**conf):
    """An app configured as the seed-doc preset is (src/scenario/presets.rs): Redis broker,
    database backend, six pool processes, chord_unlock annotated to give up after three retries."""
    app = Celery("proj", broker="redis://localhost:6379/0", backend="db+sqlite:///results.db")
    app.conf.update(
        chord_unlock_max_retries=3,
        chord_unlock_retry_delay=1.0,
        task_track_started=True,
        result_expires=3600,
        worker_concurrency=6,
        task_annotations={
            "celery.chord_unlock": {
                "max_retries": 3,
                "retry_backoff": True,
                "retry_backoff_max": 60,
                "retry_jitter": True,
                "soft_time_limit": 300,
                "time_limit": 600,
            },
            "collect_results": {"soft_time_limit": 600, "time_limit": 900},
        },
    )
    app.conf.update(conf)
    return app


@pytest.fixture
def app():
    return seed_doc_app()
