"""chordsim from Python: build a scenario from a live Celery app or by hand, run it, check it
over seeds, explore generated faults and harden the configuration.

Every verdict comes from the Rust engine (the extension module ``chordsim._chordsim``, the same
library the ``chordsim`` command runs); the package only translates Python values to the
scenario file's tables and the engine's JSON back to typed results.

    import chordsim
    sc = chordsim.from_app(app, tests=20, duration="30s")
    verdict = sc.run(seed=1)
    assert verdict.terminal, verdict.explain()

The names below load the engine on first use, so that importing the package (as pytest does
for its plugin, ``chordsim.pytest_plugin``) costs next to nothing.
"""

from typing import Any

__all__ = [
    "Change",
    "CheckSummary",
    "ChordsimWarning",
    "ExploreReport",
    "Found",
    "Hardening",
    "Record",
    "Scenario",
    "ScenarioError",
    "Verdict",
    "__version__",
    "from_app",
    "load",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from chordsim import _api

        return getattr(_api, name)
    raise AttributeError(f"module 'chordsim' has no attribute {name!r}")


def __dir__() -> list:
    return sorted(__all__)
