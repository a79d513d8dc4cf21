"""Summarise runs: python3 analyze.py runs/<glob>... -> per-run JSON lines + tables."""
import sys, os, json, glob, statistics as st

def load(run_dir):
    evs = []
    for fn in glob.glob(os.path.join(run_dir, 'ev-*.jsonl')):
        with open(fn) as f:
            for line in f:
                try: evs.append(json.loads(line))
                except ValueError: pass
    evs.sort(key=lambda e: e['t'])
    return evs

def first(evs, role, name, pred=lambda e: True):
    for e in evs:
        if e['role'] == role and e['ev'] == name and pred(e):
            return e
    return None

def summarize(run_dir):
    evs = load(run_dir)
    d = {'run': os.path.basename(run_dir)}
    ca = [e for e in evs if e['ev'] == 'chord_apply_enter']
    if not ca: return None
    t0 = ca[0]['t']; rel = lambda t: None if t is None else round(t - t0, 4)
    g = lambda role, name, pred=lambda e: True: (first(evs, role, name, pred) or {}).get('t')
    sp = g('driver', 'w1_spawn')
    d['w1_spawn'] = rel(sp)
    w1 = {}
    w1main = first(evs, 'w1', 'app_import')
    mainpid = w1main['pid'] if w1main else None
    ismain = lambda e: e['pid'] == mainpid
    for name in ['interp_start', 'app_import', 'celeryd_init', 'worker_init', 'workcontroller_start_enter',
                 'pool_start_enter', 'pool_start_exit', 'consumer_start_enter', 'consumer_connect_enter',
                 'rwel_enter', 'rwel_exit', 'consumer_connect_exit', 'mingle_enter', 'mingle_exit',
                 'tasks_start_enter', 'tasks_start_exit', 'worker_ready']:
        t = g('w1', name, ismain)
        w1[name] = None if t is None or sp is None else round(t - sp, 4)
    wpi = [e['t'] for e in evs if e['role'] == 'w1' and e['ev'] == 'worker_process_init']
    w1['child_init_first'] = round(min(wpi) - sp, 4) if wpi else None
    w1['child_init_last'] = round(max(wpi) - sp, 4) if wpi else None
    rv = [e for e in evs if e['role'] == 'w1' and e['ev'] == 'restore_visible']
    if rv:
        w1['restore_scan_enter'] = round(rv[0]['t_enter'] - sp, 4)
        w1['restore_scan_exit'] = round(rv[0]['t'] - sp, 4)
        d['w1_restored'] = rv[0]['restored']
    d['w1'] = w1
    # restore scans by w0 (scanned and restored something)
    d['w0_restores'] = [(rel(e['t']), e['restored']) for e in evs if e['role'] == 'w0' and e['ev'] == 'restore_visible' and e['restored']]
    pre = [e for e in evs if e['ev'] == 'task_prerun']
    tests = [e for e in pre if e['task'].endswith('execute_single_test')]
    orig = [e for e in tests if not e.get('redelivered')]
    copies = [e for e in tests if e.get('redelivered')]
    d['orig_starts'] = sorted(rel(e['t']) for e in orig)
    d['copy_starts'] = sorted(rel(e['t']) for e in copies)
    d['copy_hosts'] = sorted(set(e['hostname'] for e in copies))
    d['copy_first_after_w1_spawn'] = round(copies[0]['t'] - sp, 4) if copies and sp else None
    recv = [e for e in evs if e['ev'] == 'task_received' and e.get('redelivered') and 'execute_single_test' in (e.get('task') or '')]
    d['copy_received_first_after_w1_spawn'] = round(recv[0]['t'] - sp, 4) if recv and sp else None
    cu = [e for e in pre if e['task'] == 'celery.chord_unlock']
    d['chord_unlock_runs'] = len(cu)
    d['chord_unlock_times'] = [rel(e['t']) for e in cu]
    term = [e for e in evs if e['ev'] == 'terminal']
    d['terminal'] = rel(term[0]['t']) if term else None
    d['status'] = term[0]['status'] if term else 'stuck'
    return d

if __name__ == '__main__':
    for rd in sys.argv[1:]:
        s = summarize(rd)
        print(json.dumps(s))
