//! The shipped starting configurations (design "Presets"). Each is a small TOML document with
//! `[celery]`, `[topology]` and `[app]` tables; a scenario's own tables are merged over it, key by
//! key, so a scenario says only what differs.

/// A named starting configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Preset {
    /// Celery's own defaults, Redis broker and backend (native chord counter).
    CeleryDefaults,
    /// What a popular troubleshooting guide recommends: inert `chord_unlock_*` keys and a
    /// `max_retries: 3` annotation on `celery.chord_unlock`, with a polling (database) backend.
    SeedDoc,
    /// The rhesis production settings (rhesis-model §d): Redis broker and backend, acks_late,
    /// prefetch 1, result_expires 1 h, the era C `collect_results`.
    Rhesis,
    /// What `chordsim harden` prints for Celery's defaults and the default workload: the
    /// smallest set of changes under which explore finds nothing.
    Hardened,
}

impl Preset {
    /// Every preset, in report-column order.
    pub const ALL: [Preset; 4] = [Preset::CeleryDefaults, Preset::SeedDoc, Preset::Rhesis, Preset::Hardened];

    /// The name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Preset::CeleryDefaults => "celery-defaults",
            Preset::SeedDoc => "seed-doc",
            Preset::Rhesis => "rhesis",
            Preset::Hardened => "hardened",
        }
    }

    /// Look a preset up by name.
    pub fn from_name(name: &str) -> Option<Preset> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The preset as TOML.
    pub fn toml(self) -> &'static str {
        match self {
            Preset::CeleryDefaults => CELERY_DEFAULTS,
            Preset::SeedDoc => SEED_DOC,
            Preset::Rhesis => RHESIS,
            Preset::Hardened => HARDENED,
        }
    }
}

const CELERY_DEFAULTS: &str = r#"
[celery]

[topology]
broker = "redis"
backend = "redis"
workers = 1
concurrency = 4

[app]
profile = "doc"
errback = "none"
"#;

// celery-semantics §10: the first two keys are not settings; the annotation's max_retries works,
// with the opposite effect; retry_backoff, retry_jitter and the limits do nothing useful.
const SEED_DOC: &str = r#"
[celery]
chord_unlock_max_retries = 3
chord_unlock_retry_delay = 1.0
task_track_started = true
result_expires = 3600

[celery.task_annotations."celery.chord_unlock"]
max_retries = 3
retry_backoff = true
retry_backoff_max = 60
retry_jitter = true
soft_time_limit = 300
time_limit = 600

[celery.task_annotations.collect_results]
soft_time_limit = 600
time_limit = 900

[topology]
broker = "redis"
backend = "database"
workers = 1
concurrency = 6

[app]
profile = "doc"
errback = "none"
"#;

// rhesis-model §d. The execute_single_test annotation key does not match the task's explicit
// name, so it never applies (inferred there; reported as inert here).
const RHESIS: &str = r#"
[celery]
task_acks_late = true
worker_prefetch_multiplier = 1
task_track_started = true
result_expires = 3600

[celery.task_annotations."rhesis.backend.tasks.execution.results.collect_results"]
max_retries = 3
retry_backoff_max = 60
soft_time_limit = 300
time_limit = 600

[celery.task_annotations."rhesis.backend.tasks.execution.test.execute_single_test"]
max_retries = 2
retry_backoff_max = 120
soft_time_limit = 300
time_limit = 600

[topology]
broker = "redis"
backend = "redis"
workers = 1
concurrency = 8

[app]
profile = "rhesis"
errback = "none"
"#;

// What `chordsim harden --preset celery-defaults` prints for the default workload (10 tests of
// 1 minute): the smallest set of changes under which explore finds nothing on 20,000 cases,
// each needed (tests/it/harden.rs the_hardened_preset_is_what_harden_prints checks it). What
// explore finds without each, on those cases:
// - the errback: a failed test's ChordError leaves the run in progress (16,000+ cases);
// - task_acks_late: a worker killed mid-test loses its tests, only the watchdog ends the run;
// - the watchdog (3 h: twice the header, at least 2 h, plus the visibility timeout a restore
//   waits): messages lost with the broker's data leave the run in progress for good;
// - result_backend_always_retry: a result stored during a backend outage is lost;
// - the time limits: a test restored past the visibility timeout runs again and again;
// - the terminal guard: a late collect_results or errback overwrites an operator's Cancelled.
const HARDENED: &str = r#"
[celery]
task_acks_late = true
result_backend_always_retry = true
task_time_limit = 1800
task_soft_time_limit = 1500

[topology]
broker = "redis"
backend = "redis"
workers = 1
concurrency = 4

[app]
profile = "doc"
errback = "inline"
terminal_guard = true

[[policy]]
kind = "watchdog"
older_than = "3h"
"#;
