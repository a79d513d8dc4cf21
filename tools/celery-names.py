"""Print every setting name Celery defines (celery/app/defaults.py NAMESPACES, flattened) and
the task attributes an annotation may set, as src/config/celery-names.txt holds them.

Run with the newest modelled Celery installed (pip install celery==5.7.0):
    python tools/celery-names.py > src/config/celery-names.txt
Every name of 5.5 and 5.6 is also a name of 5.7.
"""
import celery
from celery import Celery
from celery.app.defaults import NAMESPACES, flatten

print(f"# Celery {celery.__version__}: setting names (celery/app/defaults.py), then task attributes")
for name in sorted(name for name, _ in flatten(NAMESPACES)):
    print(f"setting {name}")
task = Celery().Task
attributes = {a for a in dir(task) if not a.startswith("_") and not callable(getattr(task, a, None))}
# Read by the task decorator and Task.retry rather than defined on the class (celery/app/base.py
# `_task_from_fun`, celery/app/autoretry.py).
attributes |= {"autoretry_for", "dont_autoretry_for", "retry_kwargs", "retry_backoff", "retry_backoff_max", "retry_jitter"}
for name in sorted(attributes):
    print(f"attribute {name}")
