"""The Python API over a real Celery app object: what it reads, that it agrees with the command
line, typed results, bad input, and Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import chordsim
from conftest import seed_doc_app


def cli(*args):
    """The console script `pip install` put beside this Python."""
    script = os.path.join(os.path.dirname(sys.executable), "chordsim")
    return subprocess.run([script, *args], capture_output=True, text=True)


def test_from_app_reads_the_non_default_settings_and_the_version(app):
    sc = chordsim.from_app(app, tests=10, duration="1m")
    dumped = json.loads(sc.config)
    assert dumped["task_annotations"]["celery.chord_unlock"]["max_retries"] == 3
    assert dumped["result_backend"].startswith("db+sqlite")
    assert "worker_prefetch_multiplier" not in dumped, "defaults are left out, as inspect conf does"
    import celery

    assert sc.version == ".".join(celery.__version__.split(".")[:2])


def test_a_seed_doc_app_gives_up_on_a_header_longer_than_four_seconds(app):
    # chord_unlock's countdown 1 s + 3 retries × 1 s (result_chord_retry_interval): it gives up
    # after about 4 s while ten one-minute tests still run (celery-semantics §5).
    v = chordsim.from_app(app, tests=10, duration="1m").run()
    assert v.status == "stuck" and v.final_status == "Progress"
    assert any("chord_unlock gave up after 4 polls" in c for c in v.cause), v.cause
    assert v.chord_unlock_runs == 4
    assert not v.ok and "stuck" in v.explain()
    assert v.trace and v.trace[0].at == 0.0


def test_raising_chord_unlocks_retries_makes_the_same_app_complete():
    annotations = {"celery.chord_unlock": {"max_retries": 301}, "collect_results": {"time_limit": 900}}
    v = chordsim.from_app(seed_doc_app(task_annotations=annotations), tests=10, duration="1m").run()
    assert v.status == "Completed", v.explain()
    assert v.ok and v.callback_runs == 1 and v.terminal_at is not None


def test_from_app_agrees_with_check_config_on_the_same_dump(app, tmp_path):
    sc = chordsim.from_app(app, tests=10, duration="1m")
    (tmp_path / "conf.json").write_text(sc.config)
    (tmp_path / "run.toml").write_text(sc.to_toml())
    out = cli("check", str(tmp_path / "run.toml"), "--config", str(tmp_path / "conf.json"),
              "--celery-version", sc.version, "--workers", "1", "--json")
    assert out.returncode == 1, out.stderr
    line = json.loads(out.stdout.splitlines()[0])
    assert line["data"]["verdict"] == sc.run().raw


def test_to_toml_round_trips_through_the_command_line(tmp_path):
    sc = chordsim.Scenario({
        "preset": "rhesis",
        "seed": 7,
        "run": {"tests": 4, "duration": "10s"},
        "fault": [{"at": "3s", "kind": "kill_worker", "worker": "w1", "restart_after": "5s"}],
    })
    path = tmp_path / "sc.toml"
    path.write_text(sc.to_toml())
    out = cli("check", str(path), "--json")
    verdict = json.loads(out.stdout.splitlines()[0])["data"]["verdict"]
    assert verdict == sc.run().raw
    assert chordsim.load(str(path)).run().raw == verdict


def test_check_counts_the_endings_over_seeds():
    sc = chordsim.Scenario({"preset": "hardened", "run": {"tests": 3, "duration": "1s..20s"}})
    summary = sc.check(seeds=5)
    assert [v.seed for v in summary.verdicts] == [1, 2, 3, 4, 5]
    assert summary.counts == {"Completed": 5} and summary.failures == []


def test_the_turmoil_driver_gives_the_same_verdict_and_names_the_allowed_drivers():
    # A two-minute cut of the worker's link to a Redis broker, unnoticed (source notes §16):
    # both drivers complete the run when the link heals, over TCP too.
    sc = chordsim.Scenario({
        "preset": "rhesis",
        "horizon": "30m",
        "run": {"tests": 4, "duration": "30s"},
        "fault": [{"at": "10s", "kind": "partition", "between": ["w1", "broker"], "heal_after": "2m"}],
    })
    events, turmoil = sc.run(), sc.run(driver="turmoil")
    assert events.status == turmoil.status == "Completed"
    assert events.callback_runs == turmoil.callback_runs == 1
    with pytest.raises(ValueError, match="events, turmoil"):
        sc.run(driver="tcp")


def test_bad_input_names_the_field_and_the_allowed_values():
    with pytest.raises(chordsim.ScenarioError) as e:
        chordsim.Scenario({"preset": "seed-doc", "run": {"tests": 2, "outcome": "explode"}})
    text = str(e.value)
    assert "run.outcome" in text and "pass" in text and "scenario.toml:" in text


def test_a_misspelt_setting_is_a_named_warning_not_silence():
    # Celery stores an unknown key and never reads it (celery-semantics §1 "Not settings").
    with pytest.warns(chordsim.ChordsimWarning, match="task_acks_late"):
        chordsim.Scenario({"preset": "seed-doc", "run": {"tests": 1}, "celery": {"task_acks_lately": True}})


def test_explore_finds_the_give_up_and_shrinks_it(app):
    r = chordsim.from_app(app).explore(cases=200, threads=2)
    assert r.ran == 200 and r.failed > 0 and not r.interrupted
    give_up = [f for f in r.found if "chord_unlock retries exhausted" in f.signature]
    assert give_up, [f.signature for f in r.found]
    assert "[[fault]]" not in give_up[0].toml, "no fault is needed to give up"


def test_harden_names_the_errback_for_the_seed_doc_app(app):
    h = chordsim.from_app(app).harden(tests=10, duration_s=60, cases=2000, search_cases=500, threads=2)
    assert h.complete, h.text
    assert any("on_error" in c.python for c in h.changes), h.text
    assert all(c.without.failed > 0 for c in h.changes), "each change is needed"
    assert "chordsim harden:" in h.text


def test_ctrl_c_stops_an_exploration_with_keyboard_interrupt():
    # Python's own SIGINT handler, even where the test runner was started with SIGINT ignored
    # (a background job of a non-interactive shell is).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    sc = chordsim.Scenario({"preset": "rhesis", "run": {"tests": 1}})
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        # About a minute of work on one thread if the signal were missed: the test would fail,
        # not hang.
        with pytest.raises(KeyboardInterrupt):
            sc.explore(cases=2_000_000, threads=1)
    finally:
        timer.join()
        signal.signal(signal.SIGINT, previous)


def test_from_app_reads_the_header_and_body_tasks_own_classes():
    app = seed_doc_app(task_annotations={"celery.chord_unlock": {"max_retries": 301}})

    @app.task(shared=False, name="proj.tasks.execute_single_test", autoretry_for=(Exception,), max_retries=1,
              default_retry_delay=1, acks_late=True)
    def execute_single_test(test_id):
        pass

    @app.task(shared=False, name="proj.tasks.collect_results")
    def collect_results(results):
        pass

    sc = chordsim.from_app(app, header="proj.tasks.execute_single_test", body="proj.tasks.collect_results",
                           tests=1, duration="1s", outcome="raise_transient")
    header = sc.tables["app"]["header"]
    assert header == {"name": "proj.tasks.execute_single_test", "max_retries": 1, "default_retry_delay": 1,
                      "autoretry_for": ["Exception"], "acks_late": True}, header
    assert sc.tables["app"]["body"] == {"name": "proj.tasks.collect_results"}, "only what the class sets"
    v = sc.run()
    # The class's autoretry_for retries the transient failure once (celery app/autoretry.py).
    assert v.status == "Completed" and v.raw["header_runs"] == [2], v.explain()
    assert "[app.header]" in sc.to_toml() and 'name = "proj.tasks.execute_single_test"' in sc.to_toml()


def test_autoretry_for_matches_the_raised_exceptions_class_and_bases():
    app = seed_doc_app(task_annotations={"celery.chord_unlock": {"max_retries": 301}})

    @app.task(shared=False, name="proj.tasks.execute_single_test", autoretry_for=(OSError,), max_retries=1, default_retry_delay=1)
    def execute_single_test(test_id):
        pass

    def runs(exception):
        sc = chordsim.from_app(app, header="proj.tasks.execute_single_test", tests=1, duration="1s",
                               outcome="raise_transient", exception=exception)
        return sc.run().raw["header_runs"][0]

    assert runs(ConnectionError) == 2, "a ConnectionError is an OSError: retried"
    assert runs(KeyError) == 1, "a KeyError is not: it fails at once"
    sc = chordsim.from_app(app, tests=1, outcome="raise", exception=ConnectionError)
    assert sc.tables["run"]["exception"] == ["ConnectionError", "OSError", "Exception", "BaseException"]


def test_from_app_names_the_registered_tasks_when_one_is_missing(app):
    with pytest.raises(chordsim.ScenarioError, match="no task registered under this name"):
        chordsim.from_app(app, header="proj.tasks.nope")


def status_rule(results):
    """An application's own rule: a run with any None result failed; otherwise it completed."""
    return "Failed" if any(r is None for r in results) else "Completed"


def two_tests_one_returning_none():
    return {"preset": "celery-defaults", "run": {"tests": 2, "duration": "1s",
                                                "override": [{"test": 1, "outcome": "return_none"}]}}


def test_a_python_status_rule_decides_the_runs_status():
    # The doc profile's rule gives Partial for one None in two; the application's gives Failed.
    assert chordsim.Scenario(two_tests_one_returning_none()).run().status == "Partial"
    seen = []

    def rule(results):
        seen.append(results)
        return status_rule(results)

    v = chordsim.Scenario(two_tests_one_returning_none(), status=rule).run()
    assert v.status == "Failed", v.explain()
    assert seen[0] == [{"status": "passed"}, None], "each outcome's value, in header order"
    custom = dict(two_tests_one_returning_none(), app={"returns": {"pass": {"outcome": "ok", "score": 1}}})
    seen.clear()
    chordsim.Scenario(custom, status=rule).run()
    assert seen[0] == [{"outcome": "ok", "score": 1}, None], "the workload states the concrete values"


def test_a_status_rule_that_raises_makes_collect_results_raise():
    def broken(results):
        raise KeyError("status")

    v = chordsim.Scenario(two_tests_one_returning_none(), status=broken).run()
    assert v.status == "stuck", v.explain()
    assert any("status rule raised" in r.line and "KeyError" in r.line for r in v.trace), v.trace
    v = chordsim.Scenario(two_tests_one_returning_none(), status=lambda results: "Done").run()
    assert any("expected one of" in r.line for r in v.trace)


def test_a_scenario_with_a_python_rule_cannot_be_a_file_and_says_how_to_replay_it():
    sc = chordsim.Scenario(two_tests_one_returning_none(), status=status_rule)
    with pytest.raises(chordsim.ScenarioError, match=r"a Python callable.*chordsim\.Scenario\(.*status=status_rule\)"):
        sc.to_toml()


def test_explore_calls_the_python_rule_from_its_threads():
    sc = chordsim.Scenario({"preset": "celery-defaults", "run": {"tests": 1}}, status=status_rule)
    first = sc.explore(cases=100, threads=2)
    again = sc.explore(cases=100, threads=1)
    assert first.ran == 100 and [f.signature for f in first.found] == [f.signature for f in again.found]


def test_ctrl_c_stops_the_console_script_as_it_stops_the_binary(tmp_path):
    script = os.path.join(os.path.dirname(sys.executable), "chordsim")
    p = subprocess.Popen([script, "explore", "--preset", "rhesis", "--cases", "100000000", "--threads", "1",
                          "--out", str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 130, p.stderr.read().decode()


def test_ctrl_c_kills_a_console_script_command_without_its_own_handler():
    # harden installs no handler: as with the binary, SIGINT's default action ends it at once
    # (Python's handler would wait for the search to finish).
    script = os.path.join(os.path.dirname(sys.executable), "chordsim")
    p = subprocess.Popen([script, "harden", "--preset", "seed-doc", "--threads", "1"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    started = time.monotonic()
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=60)
    finally:
        p.kill()
    assert p.returncode == -signal.SIGINT and time.monotonic() - started < 5
