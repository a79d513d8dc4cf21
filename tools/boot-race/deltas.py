"""Per-phase durations (differences between consecutive w1 phase stamps). usage: deltas.py NAME=glob ..."""
import sys, glob, statistics as st
sys.path.insert(0, '/tmp/boot16b')
from analyze import summarize
SEG = [('spawn', None, 'interp_start'), ('interp->app_import (CLI imports)', 'interp_start', 'app_import'),
       ('app_import->worker_init', 'app_import', 'worker_init'),
       ('worker_init->WorkController.start', 'worker_init', 'workcontroller_start_enter'),
       ('WorkController.start->pool on_start', 'workcontroller_start_enter', 'pool_start_enter'),
       ('pool on_start (fork 6)', 'pool_start_enter', 'pool_start_exit'),
       ('pool exit->connect enter', 'pool_start_exit', 'consumer_connect_enter'),
       ('connect enter->restore scan', 'consumer_connect_enter', 'restore_scan_enter'),
       ('restore scan', 'restore_scan_enter', 'restore_scan_exit'),
       ('restore exit->copy received on w0', 'restore_scan_exit', '@copy_received_first_after_w1_spawn'),
       ('TOTAL spawn->restore scan', None, 'restore_scan_enter')]
def val(s, k):
    if k is None: return 0.0
    if k.startswith('@'): return s.get(k[1:])
    return s['w1'].get(k)
def fmt(xs):
    xs = [x for x in xs if x is not None]
    return f"{st.median(xs)*1000:.0f} ({min(xs)*1000:.0f}–{max(xs)*1000:.0f}) sd={st.pstdev(xs)*1000:.0f}" if xs else '-'
groups = {}
for arg in sys.argv[1:]:
    n, p = arg.split('=', 1)
    groups[n] = [s for s in (summarize(d) for d in sorted(glob.glob(p))) if s]
print('| segment (ms) | ' + ' | '.join(f'{n} (n={len(groups[n])})' for n in groups) + ' |')
print('|---|' + '---|' * len(groups))
for name, a, b in SEG:
    row = []
    for n in groups:
        xs = []
        for s in groups[n]:
            va, vb = val(s, a), val(s, b)
            xs.append(None if va is None or vb is None else vb - va)
        row.append(fmt(xs))
    print(f'| {name} | ' + ' | '.join(row) + ' |')
