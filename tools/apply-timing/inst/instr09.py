"""Instrumentation for soft09: JSONL per process in $S09_DIR/ev-<pid>.jsonl, time.time()."""
import os, time, json, functools

_DIR = os.environ.get('S09_DIR')
ROLE = os.environ.get('S09_ROLE', '?')
MASTER_PID = None


def ev(name, **kw):
    if not _DIR:
        return
    rec = {'t': time.time(), 'ev': name, 'pid': os.getpid(), 'role': ROLE}
    rec.update(kw)
    with open(f'{_DIR}/ev-{os.getpid()}.jsonl', 'a') as f:
        f.write(json.dumps(rec, default=str) + '\n')


def install():
    from celery import signals
    from celery.concurrency import asynpool
    import importlib; bpool = importlib.import_module("billiard.pool")
    import celery.result as cres

    # ---------------- master side ----------------
    orig_ack = bpool.ApplyResult._ack

    def _ack(self, i, time_accepted, pid, *a, **kw):
        t = time.time()
        off = t - time.monotonic()
        r = orig_ack(self, i, time_accepted, pid, *a, **kw)
        ev('pool_ack', job=self._job, tid=self.correlation_id, t_accepted=time_accepted + off,
           t_proc_enter=t, child=pid, soft=self._soft_timeout, hard=self._timeout)
        return r
    bpool.ApplyResult._ack = _ack

    orig_set = bpool.ApplyResult._set

    def _set(self, i, obj):
        ev('pool_result', job=self._job, tid=self.correlation_id)
        return orig_set(self, i, obj)
    bpool.ApplyResult._set = _set

    orig_ctl = asynpool.AsynPool._create_timelimit_handlers

    def _create_timelimit_handlers(self, hub):
        r = orig_ctl(self, hub)
        inner = self.on_timeout_set

        def on_timeout_set(R, soft, hard):
            ev('timeout_set', job=R._job, tid=R.correlation_id, soft=soft, hard=hard)
            return inner(R, soft, hard)
        self.on_timeout_set = on_timeout_set
        return r
    asynpool.AsynPool._create_timelimit_handlers = _create_timelimit_handlers

    orig_ost = asynpool.AsynPool._on_soft_timeout

    def _on_soft_timeout(self, job, soft, hard, hub):
        R = self._cache.get(job)
        ev('on_soft_timeout', job=job, tid=getattr(R, 'correlation_id', None),
           in_cache=R is not None, child=getattr(R, '_worker_pid', None))
        return orig_ost(self, job, soft, hard, hub)
    asynpool.AsynPool._on_soft_timeout = _on_soft_timeout

    orig_kill = bpool.TimeoutHandler.on_soft_timeout

    def on_soft_timeout(self, job):
        ev('soft_kill_enter', job=job._job, tid=job.correlation_id, child=job._worker_pid)
        r = orig_kill(self, job)
        ev('soft_kill_exit', job=job._job, tid=job.correlation_id)
        return r
    bpool.TimeoutHandler.on_soft_timeout = on_soft_timeout

    orig_cwh = asynpool.AsynPool._create_write_handlers

    def _create_write_handlers(self, hub, *a, **kw):
        r = orig_cwh(self, hub, *a, **kw)
        qp = self._quick_put
        seen = set()

        def send_job(tup):
            res = qp(tup)
            try:
                jid = tup[1][0]
                R = self._cache.get(jid)
                ev('pool_queue', job=jid, tid=getattr(R, 'correlation_id', None))
            except Exception as e:
                ev('pool_queue', err=repr(e))
            return res
        self._quick_put = send_job
        cc = hub.consolidate_callback

        def schedule_writes(ready_fds, *aa, **kk):
            res = cc(ready_fds, *aa, **kk)
            for jid, R in list(self._cache.items()):
                if jid not in seen and getattr(R, '_write_to', None) is not None:
                    seen.add(jid)
                    ev('pool_written', job=jid, tid=R.correlation_id, proc=R._write_to.pid)
            return res
        hub.consolidate_callback = schedule_writes
        return r
    asynpool.AsynPool._create_write_handlers = _create_write_handlers

    # ---------------- child side ----------------
    def wrap_store(cls, tag):
        orig = cls._store_result

        @functools.wraps(orig)
        def w(self, task_id, result, state, *a, **kw):
            ev('store_enter', backend=tag, tid=task_id, state=state)
            try:
                return orig(self, task_id, result, state, *a, **kw)
            finally:
                ev('store_exit', backend=tag, tid=task_id, state=state)
        cls._store_result = w
    try:
        from celery.backends.database import DatabaseBackend
        wrap_store(DatabaseBackend, 'db')
        orig_meta = DatabaseBackend._get_task_meta_for

        def _gm(self, task_id, *a, **kw):
            t = time.time()
            m = orig_meta(self, task_id, *a, **kw)
            ev('db_get_meta', tid=task_id, status=m.get('status'), t_enter=t)
            return m
        DatabaseBackend._get_task_meta_for = _gm
    except ImportError:
        pass
    from celery.backends.base import BaseKeyValueStoreBackend
    wrap_store(BaseKeyValueStoreBackend, 'kv')
    try:
        from celery.backends.redis import RedisBackend
        _ocpr = RedisBackend.on_chord_part_return

        def ocpr(self, request, state, result, **kw):
            ev('chord_part_enter', tid=request.id, state=state)
            try:
                return _ocpr(self, request, state, result, **kw)
            finally:
                ev('chord_part_exit', tid=request.id)
        RedisBackend.on_chord_part_return = ocpr
    except ImportError:
        pass

    try:
        from sqlalchemy.orm import Session
        orig_commit = Session.commit

        def commit(self):
            t = time.time()
            try:
                return orig_commit(self)
            finally:
                ev('sa_commit', t_enter=t, dur=time.time() - t)
        Session.commit = commit
    except ImportError:
        pass
    from kombu import messaging
    orig_pub = messaging.Producer.publish

    def publish(self, body, *a, **kw):
        hdr = kw.get('headers') or {}
        ev('publish_enter', task=hdr.get('task'), tid=hdr.get('id'), eta=hdr.get('eta'))
        r = orig_pub(self, body, *a, **kw)
        ev('publish_exit', task=hdr.get('task'), tid=hdr.get('id'))
        return r
    messaging.Producer.publish = publish

    orig_ready = cres.ResultSet.ready

    def ready(self):
        t = time.time()
        r = orig_ready(self)
        ev('rs_ready', result=r, t_enter=t, n=len(self.results))
        return r
    cres.ResultSet.ready = ready

    @signals.worker_ready.connect(weak=False)
    def _wr(sender=None, **kw):
        ev('worker_ready')

    @signals.worker_process_init.connect(weak=False)
    def _wpi(sender=None, **kw):
        ev('worker_process_init')

    @signals.task_received.connect(weak=False)
    def _tr(sender=None, request=None, **kw):
        ev('task_received', task=request.name, tid=request.id,
           args=getattr(request, 'argsrepr', None), eta=str(request.eta) if request.eta else None)

    @signals.task_prerun.connect(weak=False)
    def _pre(sender=None, task_id=None, task=None, args=None, **kw):
        ev('task_prerun', task=task.name, tid=task_id, retries=task.request.retries,
           args=list(args)[:1] if task.name.endswith('execute_single_test') else None)

    @signals.task_postrun.connect(weak=False)
    def _post(sender=None, task_id=None, task=None, state=None, **kw):
        ev('task_postrun', task=task.name, tid=task_id, state=state)

    @signals.task_retry.connect(weak=False)
    def _retry(sender=None, request=None, **kw):
        ev('task_retry', tid=getattr(request, 'id', None))


ev('app_import')
install()
