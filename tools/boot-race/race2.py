import sys, glob
sys.path.insert(0, '/tmp/boot16b')
from analyze import load
for d in sorted(sys.argv[1:]):
    evs = load(d)
    t0 = [e for e in evs if e['ev'] == 'chord_apply_enter'][0]['t']
    post = {e['id']: e['t'] for e in evs if e['ev'] == 'task_postrun' and e['task'].endswith('execute_single_test') and e['t'] - t0 < 12}
    late = [e for e in evs if e['ev'] == 'task_prerun' and e.get('redelivered') and e['t'] - t0 > 7]
    diffs = [round((e['t'] - post[e['id']]) * 1000, 1) for e in late if e['id'] in post]
    unl = [round(e['t'] - t0, 3) for e in evs if e['ev'] == 'task_prerun' and e['task'] == 'celery.chord_unlock' and 8 < e['t'] - t0 < 8.6]
    term = [e['t'] - t0 for e in evs if e['ev'] == 'terminal']
    print(d.split('/')[-1], 'term', round(term[0], 2), 'late copy prerun minus its own original postrun (ms):', diffs, 'unlock@8.x', unl)
