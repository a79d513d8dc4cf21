"""Instrumentation for the 16b boot-timing experiment: signals + monkeypatches,
each event appended as a JSON line to $BOOT16B_DIR/ev-<pid>.jsonl (time.time())."""
import os, time, json, functools

_DIR = os.environ.get('BOOT16B_DIR')
ROLE = os.environ.get('BOOT16B_ROLE', '?')


def ev(name, **kw):
    if not _DIR:
        return
    rec = {'t': time.time(), 'ev': name, 'pid': os.getpid(), 'role': ROLE}
    rec.update(kw)
    with open(f'{_DIR}/ev-{os.getpid()}.jsonl', 'a') as f:
        f.write(json.dumps(rec, default=str) + '\n')


def _wrap(cls, meth, tag):
    orig = getattr(cls, meth)

    @functools.wraps(orig)
    def w(*a, **kw):
        ev(tag + '_enter')
        try:
            return orig(*a, **kw)
        finally:
            ev(tag + '_exit')
    setattr(cls, meth, w)


def install():
    from celery import signals
    from celery.worker.consumer import consumer as cmod
    from celery.worker.consumer import mingle as mmod
    from celery.worker.consumer import tasks as tmod
    from celery.concurrency import prefork
    from celery.worker import worker as wmod
    from kombu.transport import redis as kr

    _wrap(cmod.Consumer, 'connect', 'consumer_connect')
    _wrap(cmod.Consumer, 'start', 'consumer_start')
    _wrap(kr.Transport, 'register_with_event_loop', 'rwel')
    _wrap(mmod.Mingle, 'start', 'mingle')
    _wrap(tmod.Tasks, 'start', 'tasks_start')
    _wrap(prefork.TaskPool, 'on_start', 'pool_start')
    _wrap(wmod.WorkController, 'start', 'workcontroller_start')

    orig_rv = kr.QoS.restore_visible

    def restore_visible(self, start=0, num=10, interval=10):
        t0 = time.time()
        self._b16_restored = []
        r = orig_rv(self, start=start, num=num, interval=interval)
        ev('restore_visible', t_enter=t0, count=self._vrestore_count,
           interval=interval, scanned=((self._vrestore_count - 1) % (interval or 1) == 0),
           restored=len(self._b16_restored), tags=self._b16_restored)
        return r
    kr.QoS.restore_visible = restore_visible

    orig_rbt = kr.QoS.restore_by_tag

    def restore_by_tag(self, tag, client=None, leftmost=False):
        r = orig_rbt(self, tag, client=client, leftmost=leftmost)
        lst = getattr(self, '_b16_restored', None)
        if lst is not None:
            lst.append(tag if isinstance(tag, str) else tag.decode())
        ev('restore_by_tag', tag=tag)
        return r
    kr.QoS.restore_by_tag = restore_by_tag

    @signals.celeryd_init.connect(weak=False)
    def _ci(sender=None, **kw):
        ev('celeryd_init', hostname=str(sender))

    @signals.worker_init.connect(weak=False)
    def _wi(sender=None, **kw):
        ev('worker_init')

    @signals.worker_process_init.connect(weak=False)
    def _wpi(sender=None, **kw):
        ev('worker_process_init')

    @signals.worker_ready.connect(weak=False)
    def _wr(sender=None, **kw):
        ev('worker_ready', hostname=getattr(sender, 'hostname', None))

    @signals.task_received.connect(weak=False)
    def _tr(sender=None, request=None, **kw):
        try:
            ev('task_received', task=request.name, id=request.id,
               args=request.argsrepr if hasattr(request, 'argsrepr') else None,
               redelivered=(request.delivery_info or {}).get('redelivered'),
               eta=str(request.eta) if request.eta else None)
        except Exception as e:  # pragma: no cover
            ev('task_received', err=repr(e))

    @signals.task_prerun.connect(weak=False)
    def _pre(sender=None, task_id=None, task=None, args=None, **kw):
        req = task.request
        di = req.delivery_info or {}
        ev('task_prerun', task=task.name, id=task_id, hostname=req.hostname,
           args=list(args) if task.name.endswith('execute_single_test') else None,
           redelivered=di.get('redelivered'), retries=req.retries)

    @signals.task_postrun.connect(weak=False)
    def _post(sender=None, task_id=None, task=None, state=None, **kw):
        ev('task_postrun', task=task.name, id=task_id, state=state)


ev('app_import')
install()
