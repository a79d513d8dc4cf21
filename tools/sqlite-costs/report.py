#!/usr/bin/env python3
"""Print markdown tables from the results files of measure.py.

    python tools/sqlite-costs/report.py tools/sqlite-costs/results-5.7.0.json tools/sqlite-costs/results-5.5.3.json

Each cell is the median over the repeats, with the range over repeats in brackets where the
repeats disagree a lot (the machine is shared; SQLite commit cost drifts between ~1 ms and ~20 ms).
"""
import json
import statistics
import sys


def get(r, *path):
    for k in path:
        if r is None:
            return None
        r = r.get(k) if isinstance(r, dict) else None
    return r


def cell(runs, *path, fmt='{:.1f}', rng=True):
    vals = [v for v in (get(r, *path) for r in runs) if v is not None]
    if not vals:
        return '—'
    m = statistics.median(vals)
    s = fmt.format(m)
    if rng and len(vals) > 1 and max(vals) > 1.5 * min(vals) + 1e-9:
        s += ' [' + fmt.format(min(vals)) + '–' + fmt.format(max(vals)) + ']'
    return s


def main(paths):
    for path in paths:
        d = json.load(open(path))
        v = d['versions']
        print(f"\n### Celery {v['celery']} (kombu {v['kombu']}, SQLAlchemy {v['sqlalchemy']}, "
              f"SQLite {v['sqlite']}, Python {v['python']})\n")
        print('| N | reps | STARTED med / p90 ms | SUCCESS med / p90 ms | 1st write per child ms '
              '| lock errors | applied→last SUCCESS s | tests/s | polls | poll med ms '
              '| final ready() ms (ms/result) | join ms | last SUCCESS→callback ms | commit med ms (STARTED/SUCCESS) |')
        print('|' + '---|' * 14)
        for n, runs in sorted(d['runs'].items(), key=lambda kv: int(kv[0])):
            errs = sum(get(r, 'lock_errors', 'db_errors_total') or 0 for r in runs)
            print(f"| {n} | {len(runs)} "
                  f"| {cell(runs, 'started_write_ms', 'median')} / {cell(runs, 'started_write_ms', 'p90', rng=False)} "
                  f"| {cell(runs, 'success_write_ms', 'median')} / {cell(runs, 'success_write_ms', 'p90', rng=False)} "
                  f"| {cell(runs, 'first_write_per_child_ms', 'median', fmt='{:.0f}')} "
                  f"| {errs} "
                  f"| {cell(runs, 'header', 'applied_to_last_success_s', fmt='{:.2f}')} "
                  f"| {cell(runs, 'header', 'throughput_tests_per_s')} "
                  f"| {cell(runs, 'polls', 'count', fmt='{:.0f}')} "
                  f"| {cell(runs, 'polls', 'dur_ms', 'median', fmt='{:.0f}')} "
                  f"| {cell(runs, 'polls', 'last_poll', 'ready_ms', fmt='{:.0f}')} "
                  f"({cell(runs, 'polls', 'ready_ms_per_result_final_poll', 'median', fmt='{:.2f}', rng=False)}) "
                  f"| {cell(runs, 'polls', 'last_poll', 'join_ms', fmt='{:.2f}', rng=False)} "
                  f"| {cell(runs, 'callback', 'last_success_to_callback_start_ms', fmt='{:.0f}')} "
                  f"| {cell(runs, 'started_commit_ms', 'median')} / {cell(runs, 'success_commit_ms', 'median')} |")
        b = d.get('baseline_c1')
        if b:
            print(f"\n-c 1 baseline, N={b['n']}: STARTED {b['started_write_ms']['median']} / "
                  f"{b['started_write_ms']['p90']} ms, SUCCESS {b['success_write_ms']['median']} / "
                  f"{b['success_write_ms']['p90']} ms, commit {b['started_commit_ms']['median']} / "
                  f"{b['success_commit_ms']['median']} ms, {b['header']['throughput_tests_per_s']} tests/s")
        print('\nwrite duration by other header writes in flight at its start (ms, median / p90, '
              'all repeats of the largest N pooled by median):')
        big = max(d['runs'], key=int)
        for k in map(str, range(6)):
            meds = [get(r, 'write_ms_by_writes_in_flight', k, 'median') for r in d['runs'][big]]
            p90s = [get(r, 'write_ms_by_writes_in_flight', k, 'p90') for r in d['runs'][big]]
            meds = [x for x in meds if x is not None]
            p90s = [x for x in p90s if x is not None]
            if meds:
                print(f"  {k}{'+' if k == '5' else ''}: {statistics.median(meds):.1f} / "
                      f"{statistics.median(p90s):.1f}")


if __name__ == '__main__':
    main(sys.argv[1:])
