"""The README's Python example, as it is printed there: a seed-doc-like app fails with the
give-up; configured as `harden` suggests it ends (Failed, by the errback); with lint's fix for
the give-up it completes."""

import chordsim
from conftest import seed_doc_app


def test_the_readme_example_fails_with_the_give_up():
    app = seed_doc_app()
    v = chordsim.from_app(app, tests=10, duration="1m").run()
    assert not v.terminal
    assert "chord_unlock gave up after 4 polls" in v.explain()


def test_configured_as_harden_suggests_every_run_ends():
    app = seed_doc_app(task_time_limit=1800, task_soft_time_limit=1500, task_acks_late=True)
    hardened = {"errback": "inline", "terminal_guard": True}
    watchdog = [{"kind": "watchdog", "older_than": "3h"}]
    v = chordsim.from_app(app, tests=10, duration="1m", app=hardened, policies=watchdog).run()
    assert v.terminal, v.explain()
    assert v.status == "Failed" and v.errback_runs == 1, "the errback marks the give-up Failed"


def test_what_harden_suggests_is_what_the_example_applies():
    h = chordsim.from_app(seed_doc_app()).harden(tests=10, duration_s=60, threads=2)
    lines = "\n".join(c.python for c in h.changes)
    for change in ("on_error", "task_time_limit = 1800", "task_acks_late = True", "TERMINAL", "3h"):
        assert change in lines, h.text


def test_with_lints_fix_for_the_give_up_it_completes():
    annotations = {"celery.chord_unlock": {"max_retries": 301}}
    v = chordsim.from_app(seed_doc_app(task_annotations=annotations), tests=10, duration="1m").run()
    assert v.status == "Completed", v.explain()
