# Records interpreter start (before any celery import) when BOOT16B_DIR is set.
import os as _os
if _os.environ.get('BOOT16B_DIR') and _os.environ.get('BOOT16B_ROLE', '').startswith('w'):
    import time as _t, json as _j
    with open(f"{_os.environ['BOOT16B_DIR']}/ev-{_os.getpid()}.jsonl", 'a') as _f:
        _f.write(_j.dumps({'t': _t.time(), 'ev': 'interp_start', 'pid': _os.getpid(),
                           'role': _os.environ.get('BOOT16B_ROLE')}) + '\n')
