"""One repeat of case 16b. Usage: <venv>/bin/python one_run.py RUN_DIR VENV_DIR PORT"""
import os, sys, time, json, glob, signal, subprocess

run_dir, venv, port = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(run_dir, exist_ok=True)
sqlite = os.path.join(run_dir, 'results.sqlite')
base_env = dict(os.environ, BOOT16B_DIR=run_dir, BOOT16B_REDIS_PORT=port, BOOT16B_SQLITE=sqlite,
                PYTHONPATH='/tmp/boot16b/inst:/tmp/boot16b', PYTHONUNBUFFERED='1')
procs = []
import ctypes
ctypes.CDLL('libc.so.6', use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: reap orphaned pool children

def spawn(cmd, role, log):
    env = dict(base_env, BOOT16B_ROLE=role)
    f = open(os.path.join(run_dir, log), 'w')
    p = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, cwd='/tmp/boot16b',
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
    r = spawn(['redis-server', '--port', port, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
              'redis', 'redis.log')
    for _ in range(100):
        if subprocess.run(['redis-cli', '-p', port, 'ping'], capture_output=True).stdout.strip() == b'PONG':
            break
        time.sleep(0.05)
    celery = os.path.join(venv, 'bin', 'celery')
    wcmd = lambda n: [celery, '-A', 'app16b', 'worker', '-P', 'prefork', '-c', '6', '-l', 'info', '-n', f'{n}@%h']
    t_w0 = time.time()
    spawn(wcmd('w0'), 'w0', 'w0.log')
    deadline = time.time() + 60
    while time.time() < deadline:
        if any(e['ev'] == 'worker_ready' and e['role'] == 'w0' for e in events()):
            break
        time.sleep(0.05)
    else:
        raise SystemExit('w0 not ready')
    time.sleep(1.0)
    os.environ.update(base_env, BOOT16B_ROLE='driver')
    sys.path[:0] = ['/tmp/boot16b/inst']
    import app16b
    from celery import chord
    run_id = os.path.basename(run_dir)
    header = [app16b.execute_single_test.s(f't{i}', 8) for i in range(4)]
    body = app16b.collect_results.s(run_id).on_error(app16b.on_chord_error.s(run_id))
    t0 = time.time()
    app16b.instr16b.ev('chord_apply_enter')
    res = chord(header)(body)
    app16b.instr16b.ev('chord_apply_exit', id=res.id)
    time.sleep(max(0, t0 + 5.0 - time.time()))
    app16b.instr16b.ev('w1_spawn')
    spawn(wcmd('w1'), 'w1', 'w1.log')
    deadline = t0 + 30
    while time.time() < deadline:
        if any(e['ev'] == 'terminal' for e in events()):
            time.sleep(1.5)
            break
        time.sleep(0.1)
    meta = {'t0': t0, 't_w0_spawn': t_w0, 'venv': venv}
    with open(os.path.join(run_dir, 'meta.json'), 'w') as f:
        json.dump(meta, f)
finally:
    kill_all()
