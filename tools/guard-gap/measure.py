"""Where, inside one DatabaseBackend._store_result of an existing row, the row is read and the
write lock is asked: SQLite file backend, the venv's Celery, timestamps from SQLAlchemy's
cursor events. Prints the medians and ranges, in ms from entering _store_result."""
import os, sys, time, statistics
from celery import Celery, states
from celery.backends.database import DatabaseBackend
from sqlalchemy import event

db = sys.argv[1]
if os.path.exists(db):
    os.remove(db)
app = Celery(backend=f"db+sqlite:///{db}")
b = app.backend
marks = []
def before(conn, cursor, statement, params, context, executemany):
    marks.append(("b:" + statement.split()[0], time.perf_counter()))
def after(conn, cursor, statement, params, context, executemany):
    marks.append(("a:" + statement.split()[0], time.perf_counter()))
orig = DatabaseBackend._store_result
def wrapped(self, *a, **kw):
    marks.append(("enter", time.perf_counter()))
    r = orig(self, *a, **kw)
    marks.append(("exit", time.perf_counter()))
    return r
DatabaseBackend._store_result = wrapped
# The first write sets up the engine and session; hook the engine once it exists.
b.store_result("warm", None, states.STARTED)
from sqlalchemy.engine import Engine
event.listen(Engine, "before_cursor_execute", before)
event.listen(Engine, "after_cursor_execute", after)
event.listen(Engine, "commit", lambda conn: marks.append(("commit", time.perf_counter())))
rows = []
for i in range(300):
    tid = f"t{i}"
    b.store_result(tid, None, states.STARTED)  # the row exists, STARTED
    marks.clear()
    b.store_result(tid, {"ok": True}, states.SUCCESS)  # the write measured: over STARTED
    t0 = marks[0][1]
    seq = [(k, (t - t0) * 1e3) for k, t in marks]
    rows.append(seq)
def pick(seq, key, nth=0):
    hits = [t for k, t in seq if k == key]
    return hits[nth] if len(hits) > nth else None

sel = [[t for k, t in s if k == "a:SELECT"] for s in rows]
guard = [s[-1] for s in sel]  # the last SELECT before the write: the guard's on 5.7
upd = [pick(s, "b:UPDATE") for s in rows]
com = [pick(s, "commit") for s in rows]
ex = [pick(s, "exit") for s in rows]
def stat(xs):
    xs = sorted(x for x in xs if x is not None)
    return f"median {statistics.median(xs):.3f} ms, 10-90% {xs[len(xs)//10]:.3f}-{xs[9*len(xs)//10]:.3f}, range {xs[0]:.3f}-{xs[-1]:.3f}"
print("selects per write:", statistics.median(len(s) for s in sel))
print("enter -> guard's SELECT returned:", stat(guard))
print("enter -> UPDATE issued (write lock asked):", stat(upd))
print("guard's SELECT returned -> UPDATE issued:", stat([u - g for u, g in zip(upd, guard)]))
print("UPDATE issued -> commit:", stat([c - u for c, u in zip(com, upd)]))
print("enter -> exit:", stat(ex))
