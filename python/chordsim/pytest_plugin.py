"""The chordsim pytest plugin (entry point ``pytest11``): a ``chordsim`` fixture, the
``@pytest.mark.chordsim(seeds=…, faults=[…])`` marker, ``--chordsim-seed`` and
``--chordsim-profile``.

Importing this module is cheap: the engine is imported when a test first asks for the fixture.
A failing check's message carries the verdict, the cause chain and the one-line replay command;
the counterexample is written under ``.chordsim/`` (one file per test and seed, so pytest-xdist
workers never write the same file).
"""

from __future__ import annotations

import os
import re
from typing import Any, Dict, List, Mapping, Optional

import pytest

#: What each profile selects: how many seeds a check runs and how many cases an exploration
#: generates. ``ci`` is the default.
PROFILES: Dict[str, Dict[str, int]] = {
    "quick": {"seeds": 10, "cases": 200},
    "ci": {"seeds": 100, "cases": 2000},
    "thorough": {"seeds": 1000, "cases": 20000},
}

OUT_DIR = ".chordsim"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chordsim")
    group.addoption(
        "--chordsim-seed",
        type=int,
        default=None,
        help="the first seed every chordsim check runs (default: each scenario's own seed)",
    )
    group.addoption(
        "--chordsim-profile",
        choices=sorted(PROFILES),
        default="ci",
        help="how hard chordsim checks: "
        + "; ".join(f"{k}: {v['seeds']} seeds a check, {v['cases']} cases an exploration" for k, v in PROFILES.items())
        + " (default: ci)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "chordsim(seeds=None, faults=()): how many seeds the chordsim fixture's checks run, and "
        "faults (scenario [[fault]] tables as dicts) added to every scenario it builds",
    )


def pytest_report_header(config: pytest.Config) -> str:
    seed = config.getoption("--chordsim-seed")
    profile = config.getoption("--chordsim-profile")
    return f"chordsim: profile {profile}, first seed {'each scenario’s own' if seed is None else seed}"


class Chordsim:
    """The fixture: builds scenarios with the marker's faults, and checks them."""

    def __init__(self, request: pytest.FixtureRequest):
        marker = request.node.get_closest_marker("chordsim")
        kwargs: Mapping[str, Any] = marker.kwargs if marker else {}
        profile = PROFILES[request.config.getoption("--chordsim-profile")]
        self.seeds: int = kwargs.get("seeds") or profile["seeds"]
        self.cases: int = profile["cases"]
        self.faults: List[Dict[str, Any]] = [dict(f) for f in kwargs.get("faults", ())]
        self.first_seed: Optional[int] = request.config.getoption("--chordsim-seed")
        self._name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.nodeid).strip("-")
        self._root = str(request.config.rootpath)

    def from_app(self, app: Any, **kwargs: Any):
        """``chordsim.from_app`` with the marker's faults added."""
        import chordsim

        faults = list(kwargs.pop("faults", ())) + self.faults
        return chordsim.from_app(app, faults=faults, **kwargs)

    def scenario(self, tables: Mapping[str, Any], **kwargs: Any):
        """``chordsim.Scenario`` with the marker's faults added."""
        import chordsim

        tables = dict(tables)
        tables["fault"] = list(tables.get("fault", ())) + self.faults
        if not tables["fault"]:
            del tables["fault"]
        return chordsim.Scenario(tables, **kwargs)

    def assert_terminal(self, scenario, seeds: Optional[int] = None) -> None:
        """Every seed's run reaches a terminal status with every safety property intact (or
        does what the scenario's ``expect`` says)."""
        __tracebackhide__ = True  # the failure is the test's, not the plugin's
        summary = scenario.check(seeds=seeds or self.seeds, first=self.first_seed)
        failures = summary.failures
        if not failures:
            return
        v = failures[0]
        path = self._write(scenario, v.seed)
        raise AssertionError(
            f"{len(failures)} of {len(summary.verdicts)} runs missed (endings: {summary.counts}); "
            f"the first, seed {v.seed}:\n{v.explain()}\nreplay: {self._replay(scenario, path, v.seed)}"
        )

    def assert_explore_clean(self, scenario, cases: Optional[int] = None) -> None:
        """``explore`` on the scenario's configuration finds nothing stuck and no broken
        property; otherwise each shrunk counterexample is written under ``.chordsim/``."""
        __tracebackhide__ = True
        report = scenario.explore(cases=cases or self.cases)
        if not report.found:
            return
        lines = []
        for i, f in enumerate(report.found):
            path = self._file(f"explore-{i + 1}.toml")
            with open(path, "w", encoding="utf-8") as out:
                out.write(f.toml)
            lines.append(f"  {f.count} cases: {f.signature}\n    replay: {self._replay(scenario, path, None)}")
        raise AssertionError(
            f"explore found {len(report.found)} distinct failures in {report.ran} cases "
            f"({report.failed} failed):\n" + "\n".join(lines)
        )

    def _file(self, suffix: str) -> str:
        os.makedirs(os.path.join(self._root, OUT_DIR), exist_ok=True)
        return os.path.join(self._root, OUT_DIR, f"{self._name}-{suffix}")

    def _write(self, scenario, seed: int) -> str:
        if scenario.status is not None:
            # A Python status rule cannot be a file: the Python line that replays it instead.
            path = self._file(f"seed-{seed}.py")
            with open(path, "w", encoding="utf-8") as out:
                out.write(f"# written by the chordsim pytest plugin; seed {seed} missed\n")
                out.write(f"# import chordsim and define {getattr(scenario.status, '__qualname__', 'status')}, then:\n")
                out.write(scenario.python_replay(seed) + "\n")
            return path
        path = self._file(f"seed-{seed}.toml")
        with open(path, "w", encoding="utf-8") as out:
            out.write(f"# written by the chordsim pytest plugin; seed {seed} missed\n")
            out.write(scenario.to_toml())
        return path

    def _replay(self, scenario, path: str, seed: Optional[int]) -> str:
        rel = os.path.relpath(path, self._root)
        if scenario.status is not None:
            return f"{scenario.python_replay(seed)}  (written to {rel})"
        cmd = f"chordsim check {rel}"
        if scenario.config is not None:
            conf = self._file("config.json")
            with open(conf, "w", encoding="utf-8") as out:
                out.write(scenario.config)
            cmd += f" --config {os.path.relpath(conf, self._root)}"
            if scenario.version:
                cmd += f" --celery-version {scenario.version}"
            if scenario.workers:
                cmd += f" --workers {scenario.workers}"
            if scenario.concurrency:
                cmd += f" --concurrency {scenario.concurrency}"
        if seed is not None:
            cmd += f" --seed {seed}"
        return cmd


@pytest.fixture
def chordsim(request: pytest.FixtureRequest) -> Chordsim:
    """Build chordsim scenarios (with the test's ``chordsim`` marker's faults) and check them."""
    return Chordsim(request)

