"""A Celery app configured as a team running chords of tests might configure it: Redis broker
with a password, PostgreSQL result backend, acks late, task annotations on chord_unlock,
timedeltas. No broker or database is contacted: only the configuration is read."""
from datetime import timedelta

from celery import Celery

app = Celery('proj')
app.conf.update(
    broker_url='redis://:s3cret@redis.internal:6379/0',
    result_backend='db+postgresql://rhesis:s3cret@db.internal/rhesis',
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_track_started=True,
    worker_prefetch_multiplier=1,
    worker_concurrency=8,
    result_expires=timedelta(days=1),
    task_time_limit=3600,
    task_soft_time_limit=timedelta(minutes=55),
    broker_transport_options={'visibility_timeout': 7200},
    result_chord_retry_interval=2.0,
    task_annotations={'celery.chord_unlock': {'max_retries': 720, 'soft_time_limit': 300, 'retry_backoff': True}},
    task_default_queue='rhesis',
    result_extended=True,
    worker_send_task_events=True,
    timezone='UTC',
)
