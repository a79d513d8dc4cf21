"""The pytest plugin, through pytester: a failing check's message, the counterexample file, the
marker's faults and seeds, the options and the report header."""

import subprocess
import sys

TEST_FILE = '''
import pytest
from celery import Celery

def seed_doc_like():
    app = Celery("proj", broker="redis://localhost:6379/0", backend="db+sqlite:///r.db")
    app.conf.task_annotations = {"celery.chord_unlock": {"max_retries": 3}}
    return app

def test_gives_up(chordsim):
    chordsim.assert_terminal(chordsim.from_app(seed_doc_like(), tests=10, duration="1m"), seeds=3)

def test_completes(chordsim):
    sc = chordsim.scenario({"preset": "hardened", "run": {"tests": 3, "duration": "5s"}})
    chordsim.assert_terminal(sc)

@pytest.mark.chordsim(seeds=2, faults=[{"at": "1s", "kind": "cancel_run"}])
def test_marker_faults(chordsim):
    sc = chordsim.scenario({"preset": "hardened", "run": {"tests": 2, "duration": "5s"}})
    assert sc.tables["fault"][0]["kind"] == "cancel_run"
    assert chordsim.seeds == 2
    assert sc.run().status == "Cancelled"
'''


def test_a_failing_check_says_why_and_how_to_replay(pytester):
    pytester.makepyfile(test_runs=TEST_FILE)
    result = pytester.runpytest_subprocess("--chordsim-profile", "quick", "--chordsim-seed", "5")
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    assert "chordsim: profile quick, first seed 5" in out
    assert "3 of 3 runs missed" in out and "the first, seed 5" in out
    assert "chord_unlock gave up after 4 polls" in out
    assert "replay: chordsim check .chordsim/test_runs.py-test_gives_up-seed-5.toml --config" in out
    written = pytester.path / ".chordsim" / "test_runs.py-test_gives_up-seed-5.toml"
    assert written.exists()


def test_the_replay_line_replays_the_failure(pytester):
    pytester.makepyfile(test_runs=TEST_FILE)
    result = pytester.runpytest_subprocess("-k", "gives_up", "--chordsim-profile", "quick")
    line = next(l for l in result.stdout.lines if "replay: chordsim check" in l)
    cmd = line.split("replay: ", 1)[1].split()
    script = __import__("os").path.join(__import__("os").path.dirname(sys.executable), "chordsim")
    out = subprocess.run([script, *cmd[1:]], cwd=pytester.path, capture_output=True, text=True)
    assert out.returncode == 1, out.stderr
    assert "chord_unlock gave up after 4 polls" in out.stdout


def test_the_profile_option_says_what_it_selects(pytester):
    result = pytester.runpytest_subprocess("--help")
    out = result.stdout.str()
    assert "--chordsim-profile" in out and "quick: 10 seeds a check" in out


def test_the_plugin_module_does_not_load_the_engine():
    code = "import sys, chordsim.pytest_plugin; print('chordsim._chordsim' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_it_works_under_xdist(pytester):
    pytester.makepyfile(test_runs=TEST_FILE)
    result = pytester.runpytest_subprocess("-n", "2", "--chordsim-profile", "quick", "--chordsim-seed", "5")
    result.assert_outcomes(passed=2, failed=1)
    assert "chord_unlock gave up after 4 polls" in result.stdout.str()
    assert (pytester.path / ".chordsim" / "test_runs.py-test_gives_up-seed-5.toml").exists()
