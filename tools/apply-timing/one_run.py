"""One repeat of case 09. Usage: <venv>/bin/python one_run.py RUN_DIR VENV_DIR PORT VARIANT"""
import os, sys, time, json, glob, signal, subprocess, ctypes

run_dir, venv, port, variant = sys.argv[1:5]
os.makedirs(run_dir, exist_ok=True)
sqlite = os.path.join(run_dir, 'results.sqlite')
base_env = dict(os.environ, S09_DIR=run_dir, S09_REDIS_PORT=port, S09_SQLITE=sqlite, S09_VARIANT=variant,
                PYTHONPATH='/tmp/soft09/inst', PYTHONUNBUFFERED='1')
procs = []
ctypes.CDLL('libc.so.6', use_errno=True).prctl(36, 1, 0, 0, 0)  # child subreaper


def spawn(cmd, role, log):
    env = dict(base_env, S09_ROLE=role)
    f = open(os.path.join(run_dir, log), 'w')
    p = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, cwd=run_dir,
                         start_new_session=True)
    procs.append(p)
    return p


def events():
    out = []
    for fn in glob.glob(os.path.join(run_dir, 'ev-*.jsonl')):
        with open(fn) as f:
            for line in f:
                try: out.append(json.loads(line))
                except ValueError: pass
    return out


def kill_all():
    for p in reversed(procs):
        try: os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError: pass
    for p in procs:
        try: p.wait(5)
        except Exception: pass
    time.sleep(0.3)
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid == 0: break
        except ChildProcessError:
            break

try:
    spawn(['redis-server', '--port', port, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
          'redis', 'redis.log')
    for _ in range(100):
        if subprocess.run(['redis-cli', '-p', port, 'ping'], capture_output=True).stdout.strip() == b'PONG':
            break
        time.sleep(0.05)
    celery = os.path.join(venv, 'bin', 'celery')
    spawn([celery, '-A', 'app09', 'worker', '-P', 'prefork', '-c', '6', '-l', 'info', '-n', 'w0@%h'],
          'w0', 'w0.log')
    deadline = time.time() + 60
    while time.time() < deadline:
        if any(e['ev'] == 'worker_ready' for e in events()):
            break
        time.sleep(0.05)
    else:
        raise SystemExit('w0 not ready')
    time.sleep(1.0)
    os.environ.update(base_env, S09_ROLE='driver')
    sys.path[:0] = ['/tmp/soft09/inst']
    import app09
    from celery import chord
    run_id = os.path.basename(run_dir)
    spec = [('t0', 1, 'pass'), ('t1', 4, 'soft_catch'), ('t2', 1, 'pass'), ('t3', 1, 'pass')]
    header = [app09.execute_single_test.s(t, d, o).set(soft_time_limit=2, time_limit=5) for t, d, o in spec]
    body = app09.collect_results.s(run_id).on_error(app09.on_chord_error.s(run_id))
    # warm up the driver's producer connection so the apply itself is not a cold connect
    t0 = time.time()
    app09.instr09.ev('chord_apply_enter')
    res = chord(header)(body)
    app09.instr09.ev('chord_apply_exit', id=res.id,
                     header_ids=[r.id for r in res.parent.results] if res.parent else None)
    deadline = t0 + 15
    while time.time() < deadline:
        if any(e['ev'] == 'terminal' for e in events()):
            time.sleep(0.5)
            break
        time.sleep(0.1)
    with open(os.path.join(run_dir, 'meta.json'), 'w') as f:
        json.dump({'t0': t0, 'venv': venv, 'variant': variant}, f)
finally:
    kill_all()
