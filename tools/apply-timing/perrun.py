import glob, sys
from analyze import run_metrics
base = sys.argv[1] if len(sys.argv) > 1 else 'runs'
print('run | unlockETA-1 | t1 ackC | ackM=timer | soft fire | caught | SUCC enter→exit | poll1 pre | poll2 ETA | poll2 pre | poll2 t1 read | seen | terminal')
for d in sorted(glob.glob(f'{base}/main_B_v5?_[0-9]')):
    r = run_metrics(d); t = r['t']['t1']; p = r['polls']
    f = lambda x: f'{x:.3f}'
    print(' | '.join([d.split('/')[-1], f(r['etas'][0]-1), f(t['ack_child']), f(t['ack_master']), f(t['soft_fire']), f(t['soft_caught']),
          f"{t['SUCCESS_enter']:.3f}→{t['SUCCESS_exit']:.3f}", f(p[0]['prerun']), f(r['etas'][1]), f(p[1]['prerun']),
          f(p[1]['t1_read'][0]), str(p[1]['t1_read'][2]), f(r['terminal'])]))
