import instr09
import os, time
from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded

PORT = os.environ.get('S09_REDIS_PORT', '6392')
VARIANT = os.environ.get('S09_VARIANT', 'B')
DB = os.environ.get('S09_SQLITE', '/tmp/soft09/results.sqlite')

app = Celery('app09')
app.conf.update(
    accept_content=['json'],
    broker_connection_retry_on_startup=True,
    broker_url=f'redis://127.0.0.1:{PORT}/0',
    chord_unlock_max_retries=3,
    chord_unlock_retry_delay=1.0,
    result_backend=(f'db+sqlite:///{DB}' if VARIANT == 'B' else f'redis://127.0.0.1:{PORT}/1'),
    result_chord_retry_interval=1.0,
    result_expires=3600,
    result_serializer='json',
    task_acks_late=False,
    task_annotations={'celery.chord_unlock': {
        'max_retries': 3, 'retry_backoff': True, 'retry_backoff_max': 60,
        'retry_jitter': True, 'soft_time_limit': 300, 'time_limit': 600}},
    task_serializer='json',
    task_track_started=True,
)


@app.task(name='app09.execute_single_test')
def execute_single_test(test_id, duration_s, outcome):
    instr09.ev('body_start', test_id=test_id)
    if outcome == 'soft_catch':
        try:
            time.sleep(duration_s)
        except SoftTimeLimitExceeded:
            instr09.ev('soft_caught', test_id=test_id)
            return {'status': 'failed', 'test_id': test_id, 'reason': 'soft time limit exceeded'}
        return {'status': 'passed', 'test_id': test_id}
    time.sleep(duration_s)
    instr09.ev('body_end', test_id=test_id)
    return {'status': 'passed', 'test_id': test_id}


@app.task(name='app09.collect_results')
def collect_results(results, run_id):
    failed = [r for r in results if r is None or (isinstance(r, dict) and r.get('status') == 'failed')]
    status = 'Completed' if not failed else ('Failed' if len(failed) == len(results) else 'Partial')
    instr09.ev('terminal', status=status, by='collect_results')
    return status


@app.task(name='app09.on_chord_error')
def on_chord_error(request, exc, traceback, run_id):
    instr09.ev('terminal', status='Failed', by='errback')
