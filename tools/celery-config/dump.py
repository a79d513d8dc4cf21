"""Write the fixtures of tests/data/config from proj.py, the way Celery itself prints them.

inspect-conf.json: what `celery -A proj inspect conf --json` prints for one worker: the worker's
`conf` control command is `jsonify(app.conf.table(with_defaults=False),
keyfilter=_wanted_config_key, unknown_type_filter=safe_repr)` (celery/worker/control.py), keyed
by the node name. app-conf.json: the one-line dump the README documents,
  python -c "import json, proj; from celery.utils.serialization import jsonify; print(json.dumps(jsonify(proj.app.conf.table()), indent=1))"
Run: python dump.py OUTDIR   (with Celery installed; no broker needed)."""
import json
import sys

from celery.utils.saferepr import saferepr
from celery.utils.serialization import jsonify
from celery.worker.control import _wanted_config_key

import proj

out = sys.argv[1]
conf = jsonify(proj.app.conf.table(with_defaults=False), keyfilter=_wanted_config_key, unknown_type_filter=saferepr)
with open(f'{out}/inspect-conf.json', 'w') as f:
    json.dump({'celery@worker-1': conf}, f, indent=4, sort_keys=True)
    f.write('\n')
with open(f'{out}/app-conf.json', 'w') as f:
    f.write(json.dumps(jsonify(proj.app.conf.table()), indent=1) + '\n')
