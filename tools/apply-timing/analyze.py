import sys, glob, json, datetime, statistics as st
from timeline import load

def first(ev, pred):
    for e in ev:
        if pred(e): return e
    return None

def run_metrics(d):
    ev, t0 = load(d)
    R = lambda x: None if x is None else x - t0
    tid_of = {}
    for e in ev:
        if e['ev'] == 'task_received' and 'execute' in e['task']:
            tid_of[e['args'].split(',')[0].strip("(' ")] = e['tid']
    m = {}
    for lab, tid in tid_of.items():
        g = lambda name, **kw: first(ev, lambda e: e['ev'] == name and e.get('tid') == tid and all(e.get(k) == v for k, v in kw.items()))
        ack = g('pool_ack')
        rec = {
            'recv': R(g('task_received')['t']),
            'queued': R(g('pool_queue')['t']),
            'written': R(g('pool_written')['t']),
            'ack_child': R(ack['t_accepted']),
            'ack_master': R(ack['t_proc_enter']),
            'timer_set': R(g('timeout_set')['t']),
            'prerun': R(g('task_prerun')['t']),
            'STARTED_enter': R(g('store_enter', state='STARTED')['t']) if g('store_enter', state='STARTED') else None,
            'STARTED_exit': R(g('store_exit', state='STARTED')['t']) if g('store_exit', state='STARTED') else None,
            'body_start': R(first(ev, lambda e: e['ev'] == 'body_start' and e.get('test_id') == lab)['t']),
            'SUCCESS_enter': R(g('store_enter', state='SUCCESS')['t']),
            'SUCCESS_exit': R(g('store_exit', state='SUCCESS')['t']),
            'postrun': R(g('task_postrun')['t']),
            'master_result': R(g('pool_result')['t']),
        }
        if lab == 't1':
            s = g('on_soft_timeout'); rec['soft_fire'] = R(s['t'])
            rec['soft_kill'] = R(g('soft_kill_exit')['t'])
            rec['soft_caught'] = R(first(ev, lambda e: e['ev'] == 'soft_caught')['t'])
            rec['fire_minus_set'] = rec['soft_fire'] - rec['timer_set']
            pid = g('task_prerun')['pid']
            # commit duration of t1's SUCCESS store
            cm = [e for e in ev if e['ev'] == 'sa_commit' and e['pid'] == pid and rec['SUCCESS_enter'] <= R(e['t']) <= rec['SUCCESS_exit'] + 1e-4]
            rec['SUCCESS_commit_dur'] = cm[0]['dur'] if cm else None
            cp = g('chord_part_enter')
            rec['chord_part_enter'] = R(cp['t']) if cp else None
        m[lab] = rec
    # chord_unlock polls
    polls = [e for e in ev if e['ev'] == 'task_prerun' and e['task'] == 'celery.chord_unlock']
    etas = [datetime.datetime.fromisoformat(e['eta']).timestamp() - t0 for e in ev
            if e['ev'] == 'task_received' and e['task'] == 'celery.chord_unlock']
    pinfo = []
    for p in polls:
        rd = first(ev, lambda e: e['ev'] == 'rs_ready' and e['pid'] == p['pid'] and e['t'] >= p['t'])
        t1r = first(ev, lambda e: e['ev'] == 'db_get_meta' and e['pid'] == p['pid'] and e['t'] >= p['t'] and e['tid'] == tid_of['t1'] and e['t'] <= rd['t'])
        pinfo.append({'prerun': R(p['t']), 'ready': rd['result'], 'ready_enter': R(rd['t_enter']), 'ready_exit': R(rd['t']),
                      't1_read': (R(t1r['t_enter']), R(t1r['t']), t1r['status']) if t1r else None})
    term = first(ev, lambda e: e['ev'] == 'terminal')
    pubs = {e['tid']: R(e['t']) for e in ev if e['ev'] == 'publish_enter' and e['role'] == 'driver'}
    unlock_pub = first(ev, lambda e: e['ev'] == 'publish_enter' and e['role'] == 'driver' and e.get('task') == 'celery.chord_unlock')
    return {'t': m, 'polls': pinfo, 'etas': etas, 'terminal': R(term['t']) if term else None,
            'drv_unlock_pub': R(unlock_pub['t']) if unlock_pub else None,
            'drv_t1_pub': pubs.get(tid_of['t1']), 'drv_t0_pub': pubs.get(tid_of['t0'])}

def fmt(xs, ms=False):
    xs = [x for x in xs if x is not None]
    if not xs: return '-'
    k = 1000 if ms else 1
    return f"{st.median(xs)*k:.4g} ({min(xs)*k:.4g}–{max(xs)*k:.4g})" if ms else f"{st.median(xs):.3f} ({min(xs):.3f}–{max(xs):.3f})"

if __name__ == '__main__':
    import collections
    groups = collections.defaultdict(list)
    for d in sorted(glob.glob('runs/main_*_v5?_[0-9]')):
        var, ver = d.split('_')[1], d.split('_')[2]
        groups[(ver, var)].append((d, run_metrics(d)))
    json.dump({f'{k[0]}_{k[1]}': [x[1] for x in v] for k, v in groups.items()}, open('metrics.json', 'w'), indent=1)
    keys = ['recv', 'queued', 'written', 'ack_child', 'ack_master', 'timer_set', 'prerun', 'STARTED_enter', 'STARTED_exit',
            'body_start', 'soft_fire', 'soft_kill', 'soft_caught', 'SUCCESS_enter', 'SUCCESS_exit', 'postrun', 'master_result', 'chord_part_enter']
    for (ver, var), runs in sorted(groups.items()):
        print(f"\n### {ver} variant {var}  (n={len(runs)})")
        print(f"driver: unlock publish {fmt([r['drv_unlock_pub'] for _, r in runs])}; t0 publish {fmt([r['drv_t0_pub'] for _, r in runs])}; t1 publish {fmt([r['drv_t1_pub'] for _, r in runs])}")
        print('| moment (s after apply) | t1 | t0,t2,t3 pooled |')
        print('|---|---|---|')
        for k in keys:
            t1 = [r['t'].get('t1', {}).get(k) for _, r in runs]
            oth = [r['t'][l].get(k) for _, r in runs for l in ('t0', 't2', 't3')]
            print(f"| {k} | {fmt(t1)} | {fmt(oth)} |")
        print(f"| soft fire − timer set (ms) | {fmt([r['t']['t1']['fire_minus_set'] - 2 for _, r in runs], True)} over 2 s | |")
        print(f"| t1 SUCCESS store dur (ms) | {fmt([r['t']['t1']['SUCCESS_exit'] - r['t']['t1']['SUCCESS_enter'] for _, r in runs], True)} | |")
        print(f"| t1 SUCCESS commit dur (ms) | {fmt([r['t']['t1']['SUCCESS_commit_dur'] for _, r in runs], True)} | |")
        print(f"| t1 ack_master − ack_child (ms) | {fmt([r['t']['t1']['ack_master'] - r['t']['t1']['ack_child'] for _, r in runs], True)} | {fmt([r['t'][l]['ack_master'] - r['t'][l]['ack_child'] for _, r in runs for l in ('t0','t2','t3')], True)} |")
        print(f"| terminal | {fmt([r['terminal'] for _, r in runs])} | |")
        if var == 'B':
            for i in range(3):
                pr = [r['polls'][i]['prerun'] if len(r['polls']) > i else None for _, r in runs]
                eta = [r['etas'][i] if len(r['etas']) > i else None for _, r in runs]
                print(f"| poll{i+1} ETA / prerun | {fmt(eta)} / {fmt(pr)} | |")
            print(f"| #polls | {[len(r['polls']) for _, r in runs]} | |")
            print(f"| poll2 ready / t1 status read | {[(r['polls'][1]['ready'], r['polls'][1]['t1_read'] and r['polls'][1]['t1_read'][2]) for _, r in runs]} | |")
            print(f"| poll2 t1 read (enter) | {fmt([r['polls'][1]['t1_read'][0] for _, r in runs if r['polls'][1]['t1_read']])} | |")
            print(f"| poll1 prerun→ready exit (ms) | {fmt([r['polls'][0]['ready_exit'] - r['polls'][0]['prerun'] for _, r in runs], True)} | |")
            print(f"| poll2 ETA − (t1 timer_set+2) (ms) | {fmt([r['etas'][1] - r['t']['t1']['timer_set'] - 2 for _, r in runs], True)} | |")
            print(f"| t1 SUCCESS_exit − poll2 t1 read enter (ms) | {fmt([r['t']['t1']['SUCCESS_exit'] - r['polls'][1]['t1_read'][0] for _, r in runs if r['polls'][1]['t1_read']], True)} | |")
            print(f"| t1 timer_set − poll1 ETA+1... i.e. t1 ack − (unlock ETA−1) (ms) | {fmt([r['t']['t1']['timer_set'] - (r['etas'][0]-1) for _, r in runs], True)} | |")
