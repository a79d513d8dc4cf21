import instr16b  # first line: records app_import and installs the instrumentation
import os, time
from celery import Celery

PORT = os.environ.get('BOOT16B_REDIS_PORT', '6391')
DB = os.environ.get('BOOT16B_SQLITE', '/tmp/boot16b/results.sqlite')

app = Celery('app16b')
app.conf.update(
    accept_content=['json'],
    broker_connection_retry_on_startup=True,
    broker_transport_options={'visibility_timeout': 3},
    broker_url=f'redis://127.0.0.1:{PORT}/0',
    chord_unlock_max_retries=3,
    chord_unlock_retry_delay=1.0,
    result_backend=f'db+sqlite:///{DB}',
    result_chord_retry_interval=1.0,
    result_expires=3600,
    result_serializer='json',
    task_acks_late=True,
    task_annotations={'celery.chord_unlock': {
        'max_retries': None, 'retry_backoff': True, 'retry_backoff_max': 60,
        'retry_jitter': True, 'soft_time_limit': 300, 'time_limit': 600}},
    task_serializer='json',
    task_track_started=True,
)


@app.task(name='app16b.execute_single_test')
def execute_single_test(test_id, duration_s):
    time.sleep(duration_s)
    return {'status': 'passed'}


@app.task(name='app16b.collect_results')
def collect_results(results, run_id):
    failed = [r for r in results if r is None or (isinstance(r, dict) and r.get('status') == 'failed')]
    status = 'Completed' if not failed else ('Failed' if len(failed) == len(results) else 'Partial')
    instr16b.ev('terminal', status=status, by='collect_results')
    return status


@app.task(name='app16b.on_chord_error')
def on_chord_error(request, exc, traceback, run_id):
    instr16b.ev('terminal', status='Failed', by='errback')
