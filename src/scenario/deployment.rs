//! What `broker_url`, `result_backend` and `worker_concurrency` mean for the topology: the
//! broker transport and the result backend follow their URL's scheme as Celery and kombu read
//! it, and `worker_concurrency` sets the pool size of workers started without `-c`.
//!
//! Celery picks the result backend by `celery/app/backends.py: by_url`: the scheme before
//! `://`, cut at a `+` (`db+postgresql` is `db`), or the whole string when there is no `://`
//! (`django-db`); then `BACKEND_ALIASES`. kombu picks the transport the same way
//! (`kombu/connection.py`: a `+` in the scheme names the transport first). Only what the model
//! implements is accepted; anything else is an error naming what is, never a guess.

use super::{BackendKind, BrokerKind};

/// The broker URL schemes the model implements, for messages.
pub const BROKERS: &str = "redis://, rediss://, redis+socket://, sentinel:// (the Redis transport); amqp://, amqps://, pyamqp://, librabbitmq:// (RabbitMQ)";

/// The result backend URLs the model implements, for messages.
pub const BACKENDS: &str = "redis://, rediss://, sentinel:// (the Redis native chord counter); db+<dialect>://… (SQLAlchemy: chord_unlock polling)";

/// The transport a broker URL names (a `;`-separated failover list names one per entry; they
/// must agree).
pub fn broker_kind(url: &str) -> Result<BrokerKind, String> {
    let mut kind = None;
    for part in url.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let this = broker_one(part)?;
        if kind.is_some_and(|k| k != this) {
            return Err(format!(
                "the failover list \"{url}\" mixes transports; Celery uses one transport per connection, so expected every URL to name the same one"
            ));
        }
        kind = Some(this);
    }
    kind.ok_or_else(|| format!("\"{url}\" names no transport; expected a URL starting with one of: {BROKERS}"))
}

fn broker_one(url: &str) -> Result<BrokerKind, String> {
    let Some((scheme, _)) = url.split_once("://") else {
        return Err(format!("\"{url}\" is not a URL; expected one starting with one of: {BROKERS}"));
    };
    let transport = scheme.split('+').next().unwrap_or(scheme).to_ascii_lowercase();
    match transport.as_str() {
        "redis" | "rediss" | "sentinel" => Ok(BrokerKind::Redis),
        "amqp" | "amqps" | "pyamqp" | "librabbitmq" => Ok(BrokerKind::Amqp),
        other => Err(format!(
            "the \"{other}\" transport is not modelled (chordsim models the visibility-timeout and requeue-on-close semantics of Redis and RabbitMQ only); expected one of: {BROKERS}"
        )),
    }
}

/// The chord path a result backend setting selects, and a warning when its costs come from
/// another engine's measurements.
pub fn backend_kind(setting: &str) -> Result<(BackendKind, Option<String>), String> {
    let name = match setting.split_once("://") {
        Some((scheme, _)) => scheme.split('+').next().unwrap_or(scheme),
        None => setting,
    };
    let dialect = setting.split_once("://").and_then(|(scheme, _)| scheme.split_once('+')).map(|(_, d)| d);
    match name.to_ascii_lowercase().as_str() {
        "redis" | "rediss" | "sentinel" => Ok((BackendKind::Redis, None)),
        "db" | "database" => {
            let engine = dialect.unwrap_or("").split('+').next().unwrap_or("").to_ascii_lowercase();
            let warning = (engine != "sqlite").then(|| {
                format!(
                    "the database backend's write and read costs are calibrated on SQLite (docs/calibration.md); \"{}\" is modelled with SQLite's, so its timings are an estimate",
                    if engine.is_empty() { "this engine" } else { engine.as_str() }
                )
            });
            Ok((BackendKind::Database, warning))
        }
        "" | "disabled" => Err(
            "no result backend: Celery refuses to start a chord without one (celery/backends/base.py: DisabledBackend.ensure_chords_allowed, \"Starting chords requires a result backend to be configured\")"
                .to_string(),
        ),
        "rpc" => Err(
            "the rpc backend does not support chords: Celery raises NotImplementedError when one is applied (celery/backends/rpc.py: ensure_chords_allowed)"
                .to_string(),
        ),
        "django-db" => Err(format!(
            "django-celery-results joins a chord through its own ChordCounter model, which chordsim does not model; expected one of: {BACKENDS}"
        )),
        other => Err(format!("the \"{other}\" result backend is not modelled; expected one of: {BACKENDS}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_map_as_celery_and_kombu_read_them() {
        for (url, kind) in [
            ("redis://:********@h:6379/0", BrokerKind::Redis),
            ("rediss://h", BrokerKind::Redis),
            ("redis+socket:///tmp/r.sock", BrokerKind::Redis),
            ("sentinel://h:26379;sentinel://h2:26379", BrokerKind::Redis),
            ("pyamqp://guest@h//", BrokerKind::Amqp),
            ("amqps://h", BrokerKind::Amqp),
        ] {
            assert_eq!(broker_kind(url), Ok(kind), "{url}");
        }
        for url in ["sqs://", "memory://", "redis://a;amqp://b", "localhost", ""] {
            assert!(broker_kind(url).is_err(), "{url}");
        }
        assert_eq!(backend_kind("redis://h/1"), Ok((BackendKind::Redis, None)));
        assert_eq!(backend_kind("db+sqlite:///r.sqlite"), Ok((BackendKind::Database, None)));
        let (kind, warning) = backend_kind("db+postgresql+psycopg://u:********@h/db").unwrap();
        assert_eq!(kind, BackendKind::Database);
        assert!(warning.unwrap().contains("\"postgresql\""));
        for (setting, says) in [
            ("rpc://", "does not support chords"),
            ("django-db", "ChordCounter"),
            ("cache+memcached://h/", "\"cache\""),
            ("disabled", "no result backend"),
            ("mongodb://h", "\"mongodb\""),
        ] {
            let e = backend_kind(setting).unwrap_err();
            assert!(e.contains(says), "{setting}: {e}");
        }
    }
}
