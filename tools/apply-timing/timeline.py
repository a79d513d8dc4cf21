import json, glob, sys, os
def load(d):
    ev = []
    for fn in glob.glob(os.path.join(d, 'ev-*.jsonl')):
        for l in open(fn):
            ev.append(json.loads(l))
    meta = json.load(open(os.path.join(d, 'meta.json')))
    t0 = meta['t0']
    ev.sort(key=lambda e: e['t'])
    return ev, t0
if __name__ == '__main__':
    ev, t0 = load(sys.argv[1])
    # map tid -> label
    lab = {}
    for e in ev:
        if e['ev'] == 'task_received':
            n = e['task'].split('.')[-1]
            a = e.get('args') or ''
            lab.setdefault(e['tid'], (a.split(',')[0].strip("(' ") if 'execute' in n else n))
    for e in ev:
        if e['ev'] in ('app_import', 'worker_process_init'): continue
        if e['t'] < t0 - 0.01: continue
        x = {k: v for k, v in e.items() if k not in ('t', 'ev', 'pid', 'role', 'tid')}
        for k in ('t_accepted', 't_proc_enter', 't_enter'):
            if k in x: x[k] = round(x[k] - t0, 4)
        print(f"{e['t']-t0:8.4f} {e['pid']:6d} {lab.get(e.get('tid'), e.get('tid') or ''):>14} {e['ev']:18} {x}")
