#!/usr/bin/env python3
"""Measure Celery's SQLAlchemy-on-SQLite result backend costs in chords, with a real worker.

    python tools/sqlite-costs/measure.py --celery-venv /tmp/c57 \
        --sizes 10,100,1000,5000 --repeats 2 --out results.json

For each size N and repeat: a fresh SQLite file, a fresh (flushed) Redis broker, one worker
``celery worker -P prefork -c C`` started from the venv, one ``chord(header)(collect_results)``
of N ``execute_single_test`` tasks that sleep --test-duration seconds and return
{"status": "passed"}. The worker and client load chordtasks.py (next to this file), which
times every ``store_result`` in the pool children, every ``GroupResult.ready()`` / ``join()``
of chord_unlock, and the chord_unlock / collect_results runs; see its docstring.

This script needs only the standard library; it starts its own redis-server on --redis-port
(default 6391) and stops it, and stops its worker (SIGTERM to the worker's process group,
SIGKILL if it does not go). Raw events of every run stay in --workdir/<version>/N<n>-r<k>/.
"""
import argparse
import bisect
import glob
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


# --------------------------------------------------------------------------- helpers

def pct(xs, p):
    """p-th percentile (0..100), linear interpolation; None for an empty list."""
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    k = (len(xs) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summary(xs, scale=1000.0, nd=2):
    """median / p90 / mean / max / n of xs (seconds), in ms by default."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return {'n': 0}
    r = lambda v: round(v * scale, nd)  # noqa: E731
    return {'n': len(xs), 'median': r(pct(xs, 50)), 'p90': r(pct(xs, 90)),
            'mean': r(statistics.fmean(xs)), 'max': r(max(xs)), 'min': r(min(xs))}


def redis_cli(port, *args):
    return subprocess.run(['redis-cli', '-p', str(port), *args], capture_output=True,
                          text=True, timeout=10).stdout.strip()


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(('127.0.0.1', port)) == 0


def start_redis(port, workdir):
    if port_open(port):
        sys.exit(f'port {port} is already in use; pick another --redis-port')
    pidfile = os.path.join(workdir, f'redis-{port}.pid')
    subprocess.run(['redis-server', '--port', str(port), '--save', '', '--appendonly', 'no',
                    '--daemonize', 'yes', '--pidfile', pidfile,
                    '--logfile', os.path.join(workdir, f'redis-{port}.log')], check=True)
    for _ in range(100):
        if redis_cli(port, 'ping') == 'PONG':
            break
        time.sleep(0.05)
    else:
        sys.exit('redis did not start')
    for _ in range(40):  # wait for the pid file (written just after daemonizing)
        if os.path.exists(pidfile):
            break
        time.sleep(0.05)
    return pidfile


def stop_redis(port, pidfile):
    pid = None
    try:
        pid = int(open(pidfile).read().strip())
    except (OSError, ValueError):
        pass
    redis_cli(port, 'shutdown', 'nosave')
    if pid:
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)


def venv_versions(py):
    code = ('import json,celery,kombu,billiard,sqlalchemy,redis,sqlite3,sys;'
            'print(json.dumps({"celery":celery.__version__,"kombu":kombu.__version__,'
            '"billiard":billiard.__version__,"sqlalchemy":sqlalchemy.__version__,'
            '"redis_py":redis.__version__,"sqlite":sqlite3.sqlite_version,'
            '"python":sys.version.split()[0]}))')
    return json.loads(subprocess.check_output([py, '-c', code], text=True))


def disk_probe(directory, n=30):
    """Median / p90 (ms) of one-row INSERT+COMMIT into a fresh SQLite file, one process.

    SQLite's defaults (rollback journal, synchronous=FULL), as the result backend uses, so this is
    the machine's uncontended commit cost (journal + database fsyncs) at the time of the run.
    The machine is shared, so it drifts; every run records it before and after.
    """
    import sqlite3
    path = os.path.join(directory, 'probe.sqlite')
    for suffix in ('', '-journal'):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass
    con = sqlite3.connect(path)
    con.execute('create table t (id integer primary key, v text)')
    con.commit()
    ts = []
    for i in range(n):
        t0 = time.perf_counter()
        con.execute('insert into t (v) values (?)', ('x' * 200,))
        con.commit()
        ts.append(time.perf_counter() - t0)
    con.close()
    os.remove(path)
    return {'median_ms': round(1000 * pct(ts, 50), 2), 'p90_ms': round(1000 * pct(ts, 90), 2)}


def read_events(rundir):
    evs = []
    for path in glob.glob(os.path.join(rundir, 'events-*.jsonl')):
        with open(path) as fh:
            for line in fh:
                line = line.strip()
                if line:
                    try:
                        evs.append(json.loads(line))
                    except ValueError:
                        pass
    return evs


def stop_worker(proc, grace=20.0):
    """SIGTERM the worker's process group (warm shutdown), SIGKILL it if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
    # children of the group that outlived the main process
    try:
        os.killpg(proc.pid, 0)
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# --------------------------------------------------------------------------- one run

def run_once(args, py, n, concurrency, rundir, port):
    os.makedirs(rundir)
    db = os.path.join(rundir, 'results.sqlite')
    env = dict(os.environ, PYTHONPATH=HERE, SQLC_BROKER=f'redis://127.0.0.1:{port}/0',
               SQLC_DB=db, SQLC_EVENTS=rundir, PYTHONUNBUFFERED='1')
    redis_cli(port, 'flushall')
    probe_before = disk_probe(rundir)
    celery = [py, '-m', 'celery', '-A', 'chordtasks', 'worker', '-P', 'prefork',
              '-c', str(concurrency), '-l', 'info', '-n', f'sqlc{port}@%h']
    log = open(os.path.join(rundir, 'worker.log'), 'w')
    worker = subprocess.Popen(celery, cwd=rundir, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    timed_out = False
    try:
        deadline = time.time() + 60
        while not any(e['ev'] == 'worker_ready' for e in read_events(rundir)):
            if worker.poll() is not None or time.time() > deadline:
                raise RuntimeError(f'worker did not start, see {rundir}/worker.log')
            time.sleep(0.2)
        time.sleep(1.5)  # let mingle/gossip settle and every pool child come up
        subprocess.run([py, os.path.join(HERE, 'chordtasks.py'), 'apply', str(n),
                        str(args.test_duration)], cwd=rundir, env=env, check=True,
                       timeout=600)
        budget = args.run_timeout or max(120.0, 60 + n * 0.12)
        deadline = time.time() + budget
        done_at = None
        while True:
            evs = read_events(rundir)
            if done_at is None and any(e['ev'] == 'postrun' and e['task'].endswith('collect_results')
                                       for e in evs):
                done_at = time.time()
            if done_at is not None and time.time() > done_at + 1.5:
                break
            if time.time() > deadline:
                timed_out = True
                break
            time.sleep(0.5)
    finally:
        stop_worker(worker)
        log.close()
    probe_after = disk_probe(rundir)
    raw = read_events(rundir)
    res = analyse(raw, n, concurrency, args.test_duration)
    res['timed_out'] = timed_out
    res['disk_probe_commit'] = {'before': probe_before, 'after': probe_after}
    wl = open(os.path.join(rundir, 'worker.log'), errors='replace').read()
    res['worker_log'] = {
        'database_is_locked': wl.count('database is locked'),
        'failed_operation_warnings': wl.count('Failed operation'),
        'tracebacks': wl.count('Traceback (most recent call last)'),
        'errors': wl.count('ERROR/'),
        'retry_lines': wl.count(' retry: '),
    }
    res['rundir'] = rundir
    return res


# --------------------------------------------------------------------------- analysis

def analyse(evs, n, concurrency, test_duration):
    applied = next(e for e in evs if e['ev'] == 'applied')
    T0 = applied['t0']
    rel = lambda t: None if t is None else round(t - T0, 4)  # noqa: E731
    header_ids = set(applied['header_ids'] or [])
    stores = [e for e in evs if e['ev'] == 'store']
    hdr = [e for e in stores if e['task_id'] in header_ids]
    body = [e for e in stores if e['task_id'] == applied['body_id']]
    st = sorted((e for e in hdr if e['state'] == 'STARTED'), key=lambda e: e['t0'])
    su = sorted((e for e in hdr if e['state'] == 'SUCCESS'), key=lambda e: e['t0'])
    db_errors = [e for e in evs if e['ev'] == 'db_error']

    # statements per write (median count of each verb)
    def stmt_profile(rows):
        verbs = sorted({v for e in rows for v in e['stmts']})
        return {v: statistics.median(e['stmts'].get(v, 0) for e in rows) for v in verbs}

    def stmt_time(rows):
        verbs = sorted({v for e in rows for v in e['stmt_t']})
        return {v: round(1000 * statistics.median(e['stmt_t'].get(v, 0.0) for e in rows), 3)
                for v in verbs}

    # concurrency: other header writes in flight when a write starts
    intervals = sorted((e['t0'], e['t1']) for e in hdr)
    starts = [a for a, _ in intervals]
    ends = sorted(b for _, b in intervals)
    by_overlap = {}
    for e in hdr:
        k = bisect.bisect_left(starts, e['t0']) - bisect.bisect_right(ends, e['t0'])
        by_overlap.setdefault(min(k, 5), []).append(e['dur'])
    # share of the header span during which at least one write was in progress
    busy, cur_a, cur_b = 0.0, None, None
    for a, b in intervals:
        if cur_b is None or a > cur_b:
            if cur_b is not None:
                busy += cur_b - cur_a
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    if cur_b is not None:
        busy += cur_b - cur_a

    # growth with the number of rows already in the table: STARTED inserts a row, so the
    # i-th STARTED write (in time order) sees about i rows.
    def by_rows(rows, bins=5):
        if len(rows) < 2 * bins:
            return None
        out = []
        size = len(rows) / bins
        for b in range(bins):
            part = rows[int(b * size):int((b + 1) * size)]
            out.append({'rows_from': int(b * size), 'rows_to': int((b + 1) * size),
                        'median_ms': round(1000 * pct([e['dur'] for e in part], 50), 2),
                        'p90_ms': round(1000 * pct([e['dur'] for e in part], 90), 2)})
        return out

    # each pool child's first write also creates its engine and checks the tables
    first_of_pid = {}
    for e in sorted(stores, key=lambda e: e['t0']):
        first_of_pid.setdefault(e['pid'], e)
    firsts = {id(e) for e in first_of_pid.values()}

    last_success = max((e['t1'] for e in su), default=None)
    first_started = min((e['t0'] for e in st), default=None)

    # chord_unlock polls
    unlock_pre = sorted((e for e in evs if e['ev'] == 'prerun' and e['task'] == 'celery.chord_unlock'),
                        key=lambda e: e['t'])
    unlock_post = sorted((e for e in evs if e['ev'] == 'postrun' and e['task'] == 'celery.chord_unlock'),
                         key=lambda e: e['t'])
    readys = sorted((e for e in evs if e['ev'] == 'rs_ready'), key=lambda e: e['t0'])
    joins = sorted((e for e in evs if e['ev'] == 'rs_join'), key=lambda e: e['t0'])
    polls = []
    prev_end = None
    for p in unlock_pre:
        post = next((q for q in unlock_post if q['pid'] == p['pid'] and q['t'] >= p['t']), None)
        end = post['t'] if post else None
        rd = next((r for r in readys if r['pid'] == p['pid'] and r['t0'] >= p['t']
                   and (end is None or r['t0'] <= end)), None)
        jn = next((j for j in joins if j['pid'] == p['pid'] and j['t0'] >= p['t']
                   and (end is None or j['t0'] <= end)), None)
        done_before = sum(1 for e in su if rd and e['t1'] <= rd['t0'])
        due = (prev_end if prev_end is not None else T0) + 1.0  # countdown = retry interval 1 s
        prev_end = end
        polls.append({
            'start_s': rel(p['t']), 'late_vs_due_ms': round(1000 * (p['t'] - due), 1),
            'end_s': rel(end), 'dur_ms': round(1000 * post['dur'], 2) if post else None,
            'state': post['state'] if post else None, 'retries': p['retries'],
            'ready_ms': round(1000 * rd['dur'], 2) if rd else None,
            'ready_value': rd['value'] if rd else None,
            'ready_results_examined': rd['ready_calls'] if rd else None,
            'ready_selects': rd['stmts'].get('SELECT', 0) if rd else None,
            'ready_select_ms': round(1000 * rd['stmt_t'].get('SELECT', 0.0), 2) if rd else None,
            'header_successes_stored_before_ready': done_before,
            'join_ms': round(1000 * jn['dur'], 2) if jn else None,
            'join_selects': jn['stmts'].get('SELECT', 0) if jn else None,
            'join_get_calls': jn['get_calls'] if jn else None,
            'join_exc': jn['exc'] if jn else None,
            'after_join_ms': (round(1000 * (end - (jn['t0'] + jn['dur'])), 2)
                              if (jn and end) else None),
            'retry_publish_ms': (round(1000 * (end - (rd['t0'] + rd['dur'])), 2)
                                 if (rd and end and not jn) else None),
        })
    per_row = [1000 * r['stmt_t'].get('SELECT', 0.0) / r['stmts']['SELECT']
               for r in readys if r['stmts'].get('SELECT')]
    per_result = [1000 * r['dur'] / r['ready_calls'] for r in readys if r['ready_calls']]

    cb_pre = next((e for e in evs if e['ev'] == 'prerun' and e['task'].endswith('collect_results')), None)
    last_poll = polls[-1] if polls else None

    out = {
        'n': n, 'concurrency': concurrency, 'test_duration_s': test_duration,
        'apply_s': round(applied['dur'], 4),
        'header': {
            'first_started_s': rel(first_started),
            'last_success_stored_s': rel(last_success),
            'applied_to_last_success_s': rel(last_success),
            'throughput_tests_per_s': round(n / (last_success - T0), 2) if last_success else None,
            'ideal_s': round(n * test_duration / concurrency, 3),
            'db_write_busy_share': round(busy / (last_success - first_started), 3)
            if last_success and first_started else None,
            'started_writes': len(st), 'success_writes': len(su),
        },
        'started_write_ms': summary([e['dur'] for e in st]),
        'success_write_ms': summary([e['dur'] for e in su]),
        'first_write_per_child_ms': summary([e['dur'] for e in first_of_pid.values()]),
        'started_write_ms_excl_first_per_child': summary([e['dur'] for e in st if id(e) not in firsts]),
        'success_write_ms_excl_first_per_child': summary([e['dur'] for e in su if id(e) not in firsts]),
        # time inside SQL statements (SELECT/INSERT/UPDATE): uncontended well under 1 ms, so this
        # is mostly SQLite busy-handler waiting for the file lock held by another child
        'started_sql_ms': summary([sum(e['stmt_t'].values()) for e in st]),
        'success_sql_ms': summary([sum(e['stmt_t'].values()) for e in su]),
        # from COMMIT issued to store_result returning (the commit's journal writes and fsyncs)
        'started_commit_ms': summary([e['commit_dur'] for e in st]),
        'success_commit_ms': summary([e['commit_dur'] for e in su]),
        'started_statements': stmt_profile(st) if st else None,
        'success_statements': stmt_profile(su) if su else None,
        'started_stmt_median_ms': stmt_time(st) if st else None,
        'success_stmt_median_ms': stmt_time(su) if su else None,
        'write_ms_by_writes_in_flight': {str(k): summary(v) for k, v in sorted(by_overlap.items())},
        'started_write_by_rows': by_rows(st),
        'success_write_by_rows': by_rows(su),
        'body_writes': [{'state': e['state'], 'dur_ms': round(1000 * e['dur'], 2)} for e in body],
        'lock_errors': {
            'db_errors_total': len(db_errors),
            'database_is_locked': sum('locked' in e['msg'] for e in db_errors),
            'writes_with_errors': sum(1 for e in stores if e['errors']),
            'writes_raising': sum(1 for e in stores if e['exc']),
            'messages': sorted({e['msg'] for e in db_errors})[:5],
        },
        'polls': {
            'count': len(polls),
            'retried': sum(1 for p in polls if p['state'] == 'RETRY'),
            'dur_ms': summary([p['dur_ms'] / 1000 for p in polls if p['dur_ms'] is not None]),
            'ready_ms': summary([p['ready_ms'] / 1000 for p in polls if p['ready_ms'] is not None]),
            'ready_ms_per_result_examined': summary([x / 1000 for x in per_result]),
            # polls that found the header unfinished (header children writing meanwhile) vs
            # the final one (header done: no concurrent writers for most of it)
            'ready_ms_per_result_while_header_runs': summary(
                [r['dur'] / r['ready_calls'] for r in readys if r['ready_calls'] and not r['value']]),
            'ready_ms_per_result_final_poll': summary(
                [r['dur'] / r['ready_calls'] for r in readys if r['ready_calls'] and r['value']]),
            'select_ms_per_row': summary([x / 1000 for x in per_row], nd=4),
            'max_ready_ms': max((p['ready_ms'] for p in polls if p['ready_ms'] is not None), default=None),
            'last_poll': last_poll,
            'list': polls,
        },
        'callback': {
            'last_success_to_callback_start_ms':
                round(1000 * (cb_pre['t'] - last_success), 2) if cb_pre and last_success else None,
            'last_success_to_last_poll_start_ms':
                round(1000 * (T0 + last_poll['start_s'] - last_success), 2)
                if last_poll and last_success else None,
            'last_poll_end_to_callback_start_ms':
                round(1000 * (cb_pre['t'] - (T0 + last_poll['end_s'])), 2)
                if cb_pre and last_poll and last_poll['end_s'] is not None else None,
            'callback_start_s': rel(cb_pre['t']) if cb_pre else None,
            'callback_success_stored_s': rel(max((e['t1'] for e in body if e['state'] == 'SUCCESS'),
                                                 default=None)),
        },
    }
    return out


def aggregate(runs):
    """Medians across repeats of the headline figures."""
    def med(path):
        vals = []
        for r in runs:
            v = r
            for k in path:
                v = v.get(k) if isinstance(v, dict) else None
            if v is not None:
                vals.append(v)
        return round(statistics.median(vals), 3) if vals else None
    return {
        'repeats': len(runs),
        'started_write_median_ms': med(['started_write_ms', 'median']),
        'started_write_p90_ms': med(['started_write_ms', 'p90']),
        'success_write_median_ms': med(['success_write_ms', 'median']),
        'success_write_p90_ms': med(['success_write_ms', 'p90']),
        'started_commit_median_ms': med(['started_commit_ms', 'median']),
        'success_commit_median_ms': med(['success_commit_ms', 'median']),
        'started_sql_median_ms': med(['started_sql_ms', 'median']),
        'started_sql_p90_ms': med(['started_sql_ms', 'p90']),
        'success_sql_median_ms': med(['success_sql_ms', 'median']),
        'success_sql_p90_ms': med(['success_sql_ms', 'p90']),
        'lock_errors': sum(r['lock_errors']['db_errors_total'] for r in runs),
        'applied_to_last_success_s': med(['header', 'applied_to_last_success_s']),
        'throughput_tests_per_s': med(['header', 'throughput_tests_per_s']),
        'polls': med(['polls', 'count']),
        'poll_median_ms': med(['polls', 'dur_ms', 'median']),
        'poll_late_vs_due_median_ms': (round(statistics.median(
            p['late_vs_due_ms'] for r in runs for p in r['polls']['list']), 1)
            if any(r['polls']['list'] for r in runs) else None),
        'poll_max_ready_ms': med(['polls', 'max_ready_ms']),
        'last_poll_ready_ms': med(['polls', 'last_poll', 'ready_ms']),
        'last_poll_join_ms': med(['polls', 'last_poll', 'join_ms']),
        'last_poll_dur_ms': med(['polls', 'last_poll', 'dur_ms']),
        'select_ms_per_row': med(['polls', 'select_ms_per_row', 'median']),
        'ready_ms_per_result_while_header_runs': med(['polls', 'ready_ms_per_result_while_header_runs', 'median']),
        'ready_ms_per_result_final_poll': med(['polls', 'ready_ms_per_result_final_poll', 'median']),
        'first_write_per_child_median_ms': med(['first_write_per_child_ms', 'median']),
        'started_write_excl_first_median_ms': med(['started_write_ms_excl_first_per_child', 'median']),
        'success_write_excl_first_median_ms': med(['success_write_ms_excl_first_per_child', 'median']),
        'ready_ms_per_result': med(['polls', 'ready_ms_per_result_examined', 'median']),
        'last_success_to_callback_ms': med(['callback', 'last_success_to_callback_start_ms']),
        'disk_probe_commit_median_ms': (round(statistics.median(
            r['disk_probe_commit'][w]['median_ms'] for r in runs for w in ('before', 'after')), 2)
            if all('disk_probe_commit' in r for r in runs) else None),
    }


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--celery-venv', required=True, help='virtualenv with celery, sqlalchemy, redis')
    ap.add_argument('--sizes', default='10,100,1000,5000')
    ap.add_argument('--repeats', type=int, default=2)
    ap.add_argument('--max-repeats-5000', type=int, default=None,
                    help='cap the repeats of sizes >= 5000 (they are slow)')
    ap.add_argument('--concurrency', type=int, default=6)
    ap.add_argument('--baseline-c1', type=int, default=0, metavar='N',
                    help='also run one chord of N tests with -c 1 (uncontended writes)')
    ap.add_argument('--test-duration', type=float, default=0.05)
    ap.add_argument('--redis-port', type=int, default=6391)
    ap.add_argument('--workdir', default='/tmp/sqlite-costs/runs')
    ap.add_argument('--run-timeout', type=float, default=None)
    ap.add_argument('--time-budget', type=float, default=3600,
                    help='skip runs that would start after this many seconds')
    ap.add_argument('--out', required=True)
    ap.add_argument('--reanalyse', action='store_true',
                    help='recompute the analysis of --out from the raw events of its runs')
    args = ap.parse_args()

    if args.reanalyse:
        out = json.load(open(args.out))
        for key, runs in out['runs'].items():
            for i, r in enumerate(runs):
                keep = {k: r[k] for k in ('timed_out', 'worker_log', 'rundir', 'disk_probe_commit')
                        if k in r}
                runs[i] = dict(analyse(read_events(r['rundir']), r['n'], r['concurrency'],
                                       r['test_duration_s']), **keep)
            out['summary'][key] = aggregate(runs)
        b = out.get('baseline_c1')
        if b:
            keep = {k: b[k] for k in ('timed_out', 'worker_log', 'rundir', 'disk_probe_commit')
                    if k in b}
            out['baseline_c1'] = dict(analyse(read_events(b['rundir']), b['n'], 1,
                                              b['test_duration_s']), **keep)
        with open(args.out, 'w') as fh:
            json.dump(out, fh, indent=1)
        return

    py = os.path.join(args.celery_venv, 'bin', 'python')
    versions = venv_versions(py)
    base = os.path.join(args.workdir, versions['celery'])
    os.makedirs(base, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(',') if s]
    pidfile = start_redis(args.redis_port, args.workdir)
    started = time.time()
    out = {'versions': versions,
           'settings': {'broker': 'redis', 'result_backend': 'db+sqlite:///<fresh file per run>',
                        'task_track_started': True, 'serializer': 'json', 'result_expires': 3600,
                        'result_chord_retry_interval': 1.0, 'result_chord_join_timeout': 3.0,
                        'task_annotations': None, 'worker': f'-P prefork -c {args.concurrency} -l info',
                        'test_duration_s': args.test_duration},
           'runs': {}, 'summary': {}, 'baseline_c1': None,
           'started_at': time.strftime('%Y-%m-%dT%H:%M:%S')}

    def save():
        with open(args.out, 'w') as fh:
            json.dump(out, fh, indent=1)

    try:
        plan = []
        for n in sizes:
            reps = args.repeats
            if n >= 5000 and args.max_repeats_5000:
                reps = min(reps, args.max_repeats_5000)
            plan += [(n, k) for k in range(reps)]
        # interleave: all sizes once, then the repeats
        plan.sort(key=lambda nk: (nk[1], nk[0]))
        for n, k in plan:
            if time.time() - started > args.time_budget:
                print(f'time budget spent, skipping N={n} repeat {k}', flush=True)
                continue
            rundir = os.path.join(base, f'N{n}-r{k}')
            shutil.rmtree(rundir, ignore_errors=True)
            t = time.time()
            r = run_once(args, py, n, args.concurrency, rundir, args.redis_port)
            out['runs'].setdefault(str(n), []).append(r)
            out['summary'][str(n)] = aggregate(out['runs'][str(n)])
            save()
            print(f"celery {versions['celery']} N={n} r{k}: {time.time() - t:.1f}s  "
                  f"hdr {r['header']['applied_to_last_success_s']}s  "
                  f"STARTED {r['started_write_ms'].get('median')}/{r['started_write_ms'].get('p90')} ms  "
                  f"SUCCESS {r['success_write_ms'].get('median')}/{r['success_write_ms'].get('p90')} ms  "
                  f"polls {r['polls']['count']}  errors {r['lock_errors']['db_errors_total']}  "
                  f"probe {r['disk_probe_commit']['before']['median_ms']}/"
                  f"{r['disk_probe_commit']['after']['median_ms']} ms  "
                  f"cb +{r['callback']['last_success_to_callback_start_ms']} ms", flush=True)
        if args.baseline_c1:
            rundir = os.path.join(base, f'c1-N{args.baseline_c1}')
            shutil.rmtree(rundir, ignore_errors=True)
            r = run_once(args, py, args.baseline_c1, 1, rundir, args.redis_port)
            out['baseline_c1'] = r
            save()
            print(f"baseline -c 1 N={args.baseline_c1}: STARTED {r['started_write_ms'].get('median')}"
                  f"/{r['started_write_ms'].get('p90')} ms SUCCESS {r['success_write_ms'].get('median')}"
                  f"/{r['success_write_ms'].get('p90')} ms", flush=True)
    finally:
        stop_redis(args.redis_port, pidfile)
        out['machine_time_s'] = round(time.time() - started, 1)
        save()


if __name__ == '__main__':
    main()
