"""Tables of phase timings per group. usage: python3 table.py GROUPNAME=glob [...]"""
import sys, glob, json, statistics as st
sys.path.insert(0, '/tmp/boot16b')
from analyze import summarize
PH = ['interp_start', 'app_import', 'celeryd_init', 'worker_init', 'workcontroller_start_enter', 'pool_start_enter',
      'child_init_first', 'child_init_last', 'pool_start_exit', 'consumer_connect_enter', 'rwel_enter',
      'restore_scan_enter', 'restore_scan_exit', 'consumer_connect_exit', 'mingle_enter', 'mingle_exit', 'worker_ready']
def fmt(xs):
    xs = [x for x in xs if x is not None]
    if not xs: return '-'
    return f"{st.median(xs):.3f} ({min(xs):.3f}–{max(xs):.3f}) n={len(xs)}"
groups = {}
for arg in sys.argv[1:]:
    name, pat = arg.split('=', 1)
    groups[name] = [s for s in (summarize(d) for d in sorted(glob.glob(pat))) if s]
names = list(groups)
print('| phase (s after w1 spawn) | ' + ' | '.join(names) + ' |')
print('|---|' + '---|' * len(names))
for p in PH:
    print(f'| {p} | ' + ' | '.join(fmt([s['w1'].get(p) for s in groups[n]]) for n in names) + ' |')
for key in ['copy_received_first_after_w1_spawn', 'copy_first_after_w1_spawn', 'w1_restored', 'chord_unlock_runs', 'terminal']:
    print(f'| {key} | ' + ' | '.join(fmt([s.get(key) for s in groups[n]]) for n in names) + ' |')
print('| w1_spawn (after chord apply) | ' + ' | '.join(fmt([s.get('w1_spawn') for s in groups[n]]) for n in names) + ' |')
print()
for n in names:
    for s in groups[n]:
        print(n, s['run'], 'restore', s['w1'].get('restore_scan_enter'), 'copies', s['copy_starts'], 'hosts', s['copy_hosts'],
              'unlock', s['chord_unlock_runs'], 'term', s['terminal'], s['status'], 'w0restores', s['w0_restores'])
