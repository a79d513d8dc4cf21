"""Celery app and instrumentation for measure.py (runs inside the Celery virtualenv).

Configured from the environment:

  SQLC_BROKER     broker URL, e.g. redis://127.0.0.1:6391/0
  SQLC_DB         absolute path of the SQLite result database
  SQLC_EVENTS     directory; every process appends JSON lines to events-<pid>.jsonl

Settings are variant B of shared/celery-observations (Redis broker, SQLAlchemy on SQLite,
task_track_started, JSON, result_expires=3600, result_chord_retry_interval=1.0) *without* the
chord_unlock task_annotations (max_retries=3 would give up on any header longer than ~4 s).

What is timed (all in the process that does it; wall-clock stamps are time.time(), durations
time.perf_counter()):

* ``Backend.store_result`` (the outer call, including the backend's own retries and back-off
  sleeps) is wrapped: one ``store`` event per call, with the task name, the state, the
  duration, the SQL statements it ran (count and time per verb, via SQLAlchemy cursor events),
  the time from the COMMIT being issued to the call returning, and any DBAPI errors raised
  inside it (``handle_error`` engine event, e.g. "database is locked").
* ``ResultSet.ready`` and ``ResultSet.join`` are wrapped: how long, how many SQL statements,
  how many ``AsyncResult.ready`` / ``AsyncResult.get`` calls (results examined).
* task_prerun / task_postrun of every task that is not a header test (chord_unlock and
  collect_results), with the final state (RETRY for a chord_unlock poll that retried).
"""
import json
import os
import sys
import threading
import time

from celery import Celery, chord, signals
from celery.backends.base import Backend
from celery.result import AsyncResult, ResultSet
from sqlalchemy import event
from sqlalchemy.engine import Engine

BROKER = os.environ.get('SQLC_BROKER', 'redis://127.0.0.1:6391/0')
DB = os.environ.get('SQLC_DB', os.path.abspath('results.sqlite'))
EVENTS = os.environ.get('SQLC_EVENTS', os.path.abspath('.'))

app = Celery('chordtasks')
app.conf.update(
    broker_url=BROKER,
    result_backend='db+sqlite:///' + DB,
    task_serializer='json',
    result_serializer='json',
    accept_content=['json'],
    task_track_started=True,
    result_expires=3600,
    task_acks_late=False,
    result_chord_retry_interval=1.0,
    broker_connection_retry_on_startup=True,
)

# --------------------------------------------------------------------------- event log

_out = {'pid': None, 'fh': None}
_lock = threading.Lock()


def emit(ev, **fields):
    pid = os.getpid()
    with _lock:
        if _out['pid'] != pid:  # first event in this process (or after fork)
            _out['fh'] = open(os.path.join(EVENTS, f'events-{pid}.jsonl'), 'a', buffering=1)
            _out['pid'] = pid
        fields['ev'] = ev
        fields['pid'] = pid
        _out['fh'].write(json.dumps(fields, separators=(',', ':')) + '\n')


# --------------------------------------------------------------------------- SQL tracking

_scopes = []  # stack of dicts, innermost last (one thread per pool child)


def _new_scope():
    s = {'stmts': {}, 'stmt_t': {}, 'errors': [], 'commit_at': None, 'ready_calls': 0, 'get_calls': 0}
    _scopes.append(s)
    return s


@event.listens_for(Engine, 'before_cursor_execute')
def _before(conn, cursor, statement, parameters, context, executemany):
    conn.info['_sqlc_t'] = time.perf_counter()


@event.listens_for(Engine, 'after_cursor_execute')
def _after(conn, cursor, statement, parameters, context, executemany):
    if not _scopes:
        return
    dt = time.perf_counter() - conn.info.pop('_sqlc_t', time.perf_counter())
    verb = statement.lstrip().split(None, 1)[0].upper()
    s = _scopes[-1]
    s['stmts'][verb] = s['stmts'].get(verb, 0) + 1
    s['stmt_t'][verb] = s['stmt_t'].get(verb, 0.0) + dt


@event.listens_for(Engine, 'commit')
def _commit(conn):
    if _scopes:
        _scopes[-1]['commit_at'] = time.perf_counter()


@event.listens_for(Engine, 'handle_error')
def _error(ctx):
    msg = str(ctx.original_exception)[:200]
    stmt = (ctx.statement or '').lstrip().split(None, 1)[0].upper() if ctx.statement else None
    emit('db_error', t=time.time(), msg=msg, verb=stmt,
         in_scope=bool(_scopes))
    if _scopes:
        _scopes[-1]['errors'].append(msg)


# --------------------------------------------------------------------------- wrappers

_orig_store_result = Backend.store_result


def _timed_store_result(self, task_id, result, state, traceback=None, request=None, **kwargs):
    s = _new_scope()
    t_wall = time.time()
    t0 = time.perf_counter()
    exc = None
    try:
        return _orig_store_result(self, task_id, result, state, traceback=traceback,
                                  request=request, **kwargs)
    except BaseException as e:  # noqa: B036 - recorded and re-raised
        exc = repr(e)[:200]
        raise
    finally:
        t1 = time.perf_counter()
        _scopes.pop()
        emit('store', task_id=task_id, task=getattr(request, 'task', None), state=state,
             t0=t_wall, dur=t1 - t0, t1=t_wall + (t1 - t0),
             stmts=s['stmts'], stmt_t=s['stmt_t'],
             commit_dur=(t1 - s['commit_at']) if s['commit_at'] else None,
             errors=s['errors'], exc=exc)


Backend.store_result = _timed_store_result

_orig_rs_ready = ResultSet.ready
_orig_rs_join = ResultSet.join
_orig_ar_ready = AsyncResult.ready
_orig_ar_get = AsyncResult.get


def _ar_ready(self):
    if _scopes:
        _scopes[-1]['ready_calls'] += 1
    return _orig_ar_ready(self)


def _ar_get(self, *a, **kw):
    if _scopes:
        _scopes[-1]['get_calls'] += 1
    return _orig_ar_get(self, *a, **kw)


def _scoped(kind, fn):
    def wrapper(self, *a, **kw):
        s = _new_scope()
        t_wall = time.time()
        t0 = time.perf_counter()
        ret = exc = None
        try:
            ret = fn(self, *a, **kw)
            return ret
        except BaseException as e:  # noqa: B036
            exc = repr(e)[:200]
            raise
        finally:
            t1 = time.perf_counter()
            _scopes.pop()
            emit(kind, t0=t_wall, dur=t1 - t0, n_results=len(self.results),
                 stmts=s['stmts'], stmt_t=s['stmt_t'], ready_calls=s['ready_calls'],
                 get_calls=s['get_calls'], errors=s['errors'], exc=exc,
                 value=(ret if kind == 'rs_ready' else None),
                 kwargs={k: v for k, v in kw.items() if k == 'timeout'})
    wrapper.__name__ = fn.__name__
    return wrapper


ResultSet.ready = _scoped('rs_ready', _orig_rs_ready)
ResultSet.join = _scoped('rs_join', _orig_rs_join)
AsyncResult.ready = _ar_ready
AsyncResult.get = _ar_get

# --------------------------------------------------------------------------- signals

_starts = {}


@signals.task_prerun.connect
def _prerun(sender=None, task_id=None, task=None, **kw):
    if task.name.endswith('execute_single_test'):
        return
    _starts[task_id] = (time.time(), time.perf_counter())
    emit('prerun', task=task.name, task_id=task_id, t=_starts[task_id][0],
         retries=task.request.retries)


@signals.task_postrun.connect
def _postrun(sender=None, task_id=None, task=None, state=None, **kw):
    if task.name.endswith('execute_single_test'):
        return
    tw, tp = _starts.pop(task_id, (None, None))
    now = time.perf_counter()
    emit('postrun', task=task.name, task_id=task_id, state=state,
         t=time.time(), dur=(now - tp) if tp else None, retries=task.request.retries)


@signals.worker_ready.connect
def _ready(sender=None, **kw):
    emit('worker_ready', t=time.time())


# --------------------------------------------------------------------------- tasks

@app.task(name='chordtasks.execute_single_test')
def execute_single_test(test_id, duration_s):
    time.sleep(duration_s)
    return {'status': 'passed'}


@app.task(name='chordtasks.collect_results')
def collect_results(results):
    failed = sum(1 for r in results if not r or r.get('status') == 'failed')
    emit('callback_body', t=time.time(), n=len(results), failed=failed)
    return {'status': 'Completed' if not failed else 'Partial', 'n': len(results)}


# --------------------------------------------------------------------------- client

def apply_chord(n, duration_s):
    header = [execute_single_test.s(f't{i}', duration_s) for i in range(n)]
    t0 = time.time()
    p0 = time.perf_counter()
    res = chord(header)(collect_results.s())
    p1 = time.perf_counter()
    emit('applied', t0=t0, t1=t0 + (p1 - p0), dur=p1 - p0, n=n, body_id=res.id,
         group_id=res.parent.id if res.parent is not None else None,
         header_ids=[r.id for r in res.parent.results] if res.parent is not None else None)
    return res


if __name__ == '__main__':
    if sys.argv[1:2] == ['apply']:
        apply_chord(int(sys.argv[2]), float(sys.argv[3]))
    else:
        sys.exit('usage: chordtasks.py apply N DURATION_S')
