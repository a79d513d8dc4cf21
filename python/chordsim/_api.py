"""The Python API, which the package re-exports and imports on first use (see its docstring):
scenarios, their typed results, and ``from_app``. It translates Python values to the scenario
file's tables and the engine's JSON back; the engine decides every verdict."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from chordsim import _chordsim

ScenarioError = _chordsim.ScenarioError
"""A scenario or configuration chordsim cannot read; the message names the field, what was
expected and, for a file, its line and column."""

__version__ = _chordsim.__version__


class ChordsimWarning(UserWarning):
    """Something chordsim reads that Celery would read differently or ignore: a misspelt setting
    (Celery stores it and never looks at it). The command line prints the same lines."""


@dataclass(frozen=True)
class Record:
    """One line of a run's trace: its virtual time in seconds and what happened."""

    at: float
    line: str


@dataclass(frozen=True)
class Verdict:
    """What one run did."""

    seed: int
    #: ``"Completed"``, ``"Failed"``, ``"Cancelled"``… or ``"stuck"``.
    status: str
    #: When the run reached its terminal status, in seconds (None when stuck).
    terminal_at: Optional[float]
    #: The run record's final status (``"Progress"`` when stuck).
    final_status: str
    #: The cause chain, root cause first (when stuck or ended by a policy).
    cause: List[str]
    #: Broken safety properties, each with its reason.
    violations: Dict[str, str]
    #: The operator policy that wrote the terminal status, if one did.
    ended_by: Optional[str]
    callback_runs: int
    errback_runs: int
    chord_unlock_runs: int
    #: Whether the run met its ``expect`` (or, without one: terminal with every property intact).
    ok: bool
    misses: List[str]
    #: The verdict as ``chordsim check`` prints it.
    text: str
    trace: List[Record] = field(repr=False)
    raw: Dict[str, Any] = field(repr=False)

    @property
    def terminal(self) -> bool:
        return self.status != "stuck"

    def explain(self) -> str:
        """The verdict, root cause first, for an assertion message."""
        return self.text

    @classmethod
    def _of(cls, data: Mapping[str, Any]) -> "Verdict":
        line = data["scenario"]
        v = line["verdict"]
        ending = v["ending"]
        if ending["kind"] == "terminal":
            status, at = ending["status"], ending["at"]
        else:
            status, at = "stuck", None
        return cls(
            seed=line["seed"],
            status=status,
            terminal_at=at,
            final_status=v["final_status"],
            cause=list(v["cause"]),
            violations=dict(v["violations"]),
            ended_by=v.get("ended_by"),
            callback_runs=v["callback_runs"],
            errback_runs=v["errback_runs"],
            chord_unlock_runs=v["chord_unlock_runs"],
            ok=line["ok"],
            misses=list(line["misses"]),
            text=data["text"],
            trace=[Record(r["at"], r["line"]) for r in data["trace"]],
            raw=v,
        )


@dataclass(frozen=True)
class CheckSummary:
    """Runs of one scenario over consecutive seeds."""

    verdicts: List[Verdict]

    @property
    def counts(self) -> Dict[str, int]:
        """How many runs ended in each status (``"stuck"`` included)."""
        out: Dict[str, int] = {}
        for v in self.verdicts:
            out[v.status] = out.get(v.status, 0) + 1
        return out

    @property
    def failures(self) -> List[Verdict]:
        """The runs that missed (see ``Verdict.ok``)."""
        return [v for v in self.verdicts if not v.ok]


@dataclass(frozen=True)
class Found:
    """One distinct failure explore found, shrunk."""

    signature: str
    case: int
    count: int
    shrunk: bool
    verdict: Dict[str, Any]
    #: The minimal scenario, as a file ``chordsim run`` replays.
    toml: str


@dataclass(frozen=True)
class ExploreReport:
    ran: int
    failed: int
    interrupted: bool
    found: List[Found]

    @classmethod
    def _of(cls, d: Mapping[str, Any]) -> "ExploreReport":
        found = [Found(f["signature"], f["case"], f["count"], f["shrunk"], f["verdict"], f["toml"]) for f in d["found"]]
        return cls(d["ran"], d["failed"], d["interrupted"], found)


@dataclass(frozen=True)
class Change:
    """One change harden suggests: as an ``app.conf`` line, as scenario TOML, and what explore
    finds without it."""

    python: str
    toml_table: str
    toml: str
    without: ExploreReport


@dataclass(frozen=True)
class Hardening:
    complete: bool
    before: ExploreReport
    after: ExploreReport
    changes: List[Change]
    #: What ``chordsim harden`` prints.
    text: str


def _clean(value: Any) -> Any:
    """Drop None values: TOML has no null, and an absent key means the default. An exception
    class becomes its class and bases by name, as a test's ``exception`` lists them, so that
    ``autoretry_for`` matches it as Python's ``except`` would."""
    if isinstance(value, type) and issubclass(value, BaseException):
        return [c.__name__ for c in value.__mro__ if c is not object]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class Scenario:
    """A scenario: the scenario file's tables as Python values, over an optional imported
    configuration (what ``--config`` reads; ``from_app`` fills it from the app).

    ``tables`` holds what a scenario file holds: ``preset``, ``seed``, ``horizon``, ``celery``,
    ``topology``, ``app``, ``run`` (``tests``, ``duration``, ``outcome``, ``override``),
    ``fault`` (a list), ``policy`` (a list) and ``expect``; the README lists every field.
    Durations are strings as in the file (``"90s"``, ``"2h"``).
    """

    def __init__(
        self,
        tables: Mapping[str, Any],
        config: Optional[str] = None,
        version: Optional[str] = None,
        workers: Optional[int] = None,
        concurrency: Optional[int] = None,
        status: Optional[Callable[[list], str]] = None,
    ):
        self.tables: Dict[str, Any] = _clean(dict(tables))
        #: The application's status rule, ``def status(results: list) -> str``: called by
        #: collect_results in the model with the header's results (each outcome's value from
        #: ``app.returns``: by default ``{"status": "passed"}``, ``{"status": "failed"}``,
        #: ``None``, ``"not a dict"``). It runs under the GIL, so explore's threads wait on it,
        #: and it must have no side effects, or runs stop being deterministic.
        self.status = status
        self._status = (lambda text: status(json.loads(text))) if status is not None else None
        self.config = config
        self.version = version
        self.workers = workers
        self.concurrency = concurrency
        self._flags = json.dumps({"version": version, "workers": workers, "concurrency": concurrency})
        checked = json.loads(_chordsim.validate(json.dumps(self.tables), config, self._flags))
        self._toml: str = checked["toml"]
        #: The seed a run takes unless given one: the file's, as the reader has it.
        self.seed: int = checked["seed"]
        for w in checked["warnings"]:
            warnings.warn(w, ChordsimWarning, stacklevel=2)

    def to_toml(self) -> str:
        """The scenario as a file. Over an imported configuration, it holds the scenario's own
        tables; replay it with the configuration as ``chordsim run FILE --config CONF``. A
        scenario whose status rule is a Python callable cannot be a file: ScenarioError, with
        the Python line that replays it."""
        if self.status is not None:
            raise ScenarioError(
                "this scenario's status rule is a Python callable, which a file cannot hold; "
                f"replay it from Python: {self.python_replay()}"
            )
        return self._toml

    def python_replay(self, seed: Optional[int] = None) -> str:
        """The Python line that builds and runs this scenario again."""
        rule = getattr(self.status, "__qualname__", "status") if self.status is not None else None
        args = [repr(self.tables)]
        for name, value in (("version", self.version), ("workers", self.workers), ("concurrency", self.concurrency)):
            if value is not None:
                args.append(f"{name}={value!r}")
        if self.config is not None:
            args.insert(1, "config=open('config.json').read()")
        if rule is not None:
            args.append(f"status={rule}")
        return f"chordsim.Scenario({', '.join(args)}).run(seed={seed!r})"

    def run(self, seed: Optional[int] = None, driver: str = "events") -> Verdict:
        """One run, with the scenario's seed unless ``seed`` is given, on the discrete-event
        engine or (``driver="turmoil"``) over simulated TCP: the same model, see the README."""
        out = _chordsim.run_scenario(self._toml, self.config, self._flags, seed, self._status, driver)
        return Verdict._of(json.loads(out))

    def check(self, seeds: int = 100, first: Optional[int] = None) -> CheckSummary:
        """``seeds`` runs from seed ``first`` (default: the scenario's)."""
        start = self.seed if first is None else first
        return CheckSummary([self.run(seed=start + i) for i in range(seeds)])

    def explore(
        self, cases: int = 1000, seed: int = 1, max_tests: int = 12, threads: Optional[int] = None
    ) -> ExploreReport:
        """``chordsim explore`` on this scenario's configuration: its workload and faults are
        replaced by generated ones. Ctrl-C stops it (KeyboardInterrupt)."""
        out = _chordsim.explore_scenario(
            self._toml, self.config, self._flags, cases, seed, max_tests, threads, self._status
        )
        return ExploreReport._of(json.loads(out))

    def harden(
        self,
        tests: int = 200,
        duration_s: float = 60.0,
        cases: int = 20000,
        search_cases: int = 2000,
        seed: int = 1,
        max_tests: int = 12,
        threads: Optional[int] = None,
    ) -> Hardening:
        """``chordsim harden`` on this scenario's configuration, for a workload of ``tests``
        tests of ``duration_s`` seconds each."""
        d = json.loads(
            _chordsim.harden_scenario(
                self._toml,
                self.config,
                self._flags,
                tests,
                duration_s,
                cases,
                search_cases,
                seed,
                max_tests,
                threads,
                self._status,
            )
        )
        changes = [Change(c["python"], c["toml_table"], c["toml"], ExploreReport._of(c["without"])) for c in d["changes"]]
        return Hardening(
            d["complete"], ExploreReport._of(d["before"]), ExploreReport._of(d["after"]), changes, d["text"]
        )

    def with_tables(self, **tables: Any) -> "Scenario":
        """A copy with these top-level tables replaced (``fault=[…]``, ``run={…}``)."""
        return Scenario(
            {**self.tables, **tables}, self.config, self.version, self.workers, self.concurrency, self.status
        )


def load(path: str, config: Optional[str] = None, version: Optional[str] = None) -> Scenario:
    """A scenario file, over the configuration file ``config`` if given."""
    import tomllib  # Python 3.11+; reading files is the one place the package needs it

    with open(path, "rb") as f:
        tables = tomllib.load(f)
    text = None
    if config is not None:
        with open(config, encoding="utf-8") as f:
            text = f.read()
    return Scenario(tables, text, version)


def _app_config(app: Any) -> str:
    """``app.conf`` as ``celery inspect conf --json`` has a worker dump it (celery
    ``worker/control.py: conf``): the settings that differ from Celery's defaults, through
    Celery's own ``jsonify``, as a JSON dump of app.conf."""
    from celery.utils.serialization import jsonify
    from kombu.utils.encoding import safe_repr

    table = app.conf.table(with_defaults=False)
    dumped = jsonify(
        table, keyfilter=lambda k: isinstance(k, str) and not k.startswith("__"), unknown_type_filter=safe_repr
    )
    return json.dumps(dumped, sort_keys=True)


#: The task class attributes the model reads, with ``celery.Task``'s own defaults; ``None``:
#: set from the configuration when the task is bound (``Task.from_config``).
_TASK_ATTRIBUTES = {
    "max_retries": 3,
    "default_retry_delay": 180,
    "autoretry_for": (),
    "retry_backoff": False,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "time_limit": None,
    "soft_time_limit": None,
    "ignore_result": "task_ignore_result",
    "acks_late": "task_acks_late",
}


def _task_class(app: Any, name: str) -> Dict[str, Any]:
    """The ``[app.header]`` / ``[app.body]`` table of the task registered as ``name``: its name
    and the attributes its class sets, those that differ from ``celery.Task``'s (or, for the
    ones bound from the configuration, from the configuration), so a setting changed later
    still reaches it."""
    try:
        task = app.tasks[name]
    except KeyError:
        known = sorted(n for n in app.tasks.keys() if not n.startswith("celery."))
        raise ScenarioError(f"{name}: no task registered under this name; the app has: {', '.join(known) or 'none'}")
    table: Dict[str, Any] = {"name": name}
    for attr, default in _TASK_ATTRIBUTES.items():
        value = getattr(task, attr, None)
        if isinstance(default, str):
            default = app.conf.get(default)
        if attr == "autoretry_for":
            value = [c.__name__ for c in (value or ())]
            default = []
        if value == default or (value is None and attr != "max_retries"):
            continue
        table[attr] = "none" if value is None else value
    for attr in ("retry_kwargs", "dont_autoretry_for"):
        if getattr(task, attr, None):
            warnings.warn(f"{name}.{attr}: not modelled; chordsim reads it as unset", ChordsimWarning, stacklevel=3)
    return table


def from_app(
    app: Any,
    /,
    *,
    header: Optional[str] = None,
    body: Optional[str] = None,
    preset: Optional[str] = None,
    tests: int = 10,
    duration: str = "30s",
    outcome: str = "pass",
    exception: Optional[type] = None,
    faults: Sequence[Mapping[str, Any]] = (),
    policies: Sequence[Mapping[str, Any]] = (),
    seed: int = 1,
    horizon: Optional[str] = None,
    expect: Optional[Mapping[str, Any]] = None,
    workers: int = 1,
    concurrency: Optional[int] = None,
    status: Optional[Callable[[list], str]] = None,
    **tables: Any,
) -> Scenario:
    """A scenario over a live, configured Celery app's configuration, read without connecting to
    any broker: its non-default settings (``task_annotations`` and the broker and backend URLs
    among them) dumped as a worker's ``inspect conf`` does, and the Celery version from
    ``celery.__version__``; then read by the same importer as ``chordsim check --config``.

    The workload is ``tests`` tests of ``duration`` with ``outcome`` (raising ``exception``, an
    exception class, when the outcome raises); ``faults`` and ``policies``
    are lists of the scenario file's ``[[fault]]`` and ``[[policy]]`` tables; other scenario tables
    (``app={…}``, ``run={…}`` to replace the workload) come as keywords. ``header`` and
    ``body`` name the registered tasks (``"proj.tasks.execute_single_test"``): their names are
    what ``task_annotations`` match, and the attributes their classes set (``max_retries``,
    ``autoretry_for``, ``acks_late``, time limits, ``ignore_result``, the retry backoff) apply
    under the annotations, as in Celery. What a configuration
    does not hold comes as arguments, as the command line's flags: ``workers`` (how many workers
    consume the queue) and ``concurrency`` (each one's ``-c``; default ``worker_concurrency``).
    ``status`` is the application's own status rule (see ``Scenario.status``).
    """
    import celery

    version = ".".join(celery.__version__.split(".")[:2])
    file: Dict[str, Any] = {
        "preset": preset,
        "seed": seed,
        "horizon": horizon,
        "run": {"tests": tests, "duration": duration, "outcome": outcome, "exception": exception},
        "fault": [dict(f) for f in faults],
        "policy": [dict(p) for p in policies],
        "expect": dict(expect) if expect is not None else None,
    }
    if not file["fault"]:
        del file["fault"]
    if not file["policy"]:
        del file["policy"]
    tasks = {k: _task_class(app, n) for k, n in (("header", header), ("body", body)) if n is not None}
    if tasks:
        file["app"] = {**tables.pop("app", {}), **tasks}
    file.update(tables)
    return Scenario(file, _app_config(app), version, workers, concurrency, status)
