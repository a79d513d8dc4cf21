//! Your own Celery configuration (`--config`): the three formats import to one configuration,
//! URLs set the topology as Celery reads them, the layers stack preset < import < file, and
//! every conflict or unsupported choice is one clear message.

use std::path::Path;

use chordsim::config::AckMode;
use chordsim::scenario::import::{Flags, Format, Import};
use chordsim::scenario::{BackendKind, BrokerKind, Scenario};
use chordsim::time::SimDuration;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/config").join(name)
}

const PLAIN: &str =
    "name = \"plain\"\nabout = \"a workload only\"\n[run]\ntests = 3\n[expect]\nstatus = \"Completed\"\n";

fn under(import: &Import, text: &str) -> Result<Scenario, String> {
    Scenario::parse_with("s.toml", text, Some(import), chordsim::scenario::Needs::Expectations)
        .map_err(|e| e.to_string())
}

fn import(name: &str, text: &str) -> Result<Import, String> {
    Import::parse(name, text, &Flags::default()).map_err(|e| e.to_string())
}

#[test]
fn inspect_conf_an_app_conf_dump_and_toml_import_to_the_same_configuration() {
    let mut seen = Vec::new();
    for (file, format) in [
        ("inspect-conf.json", Format::InspectConf),
        ("app-conf.json", Format::JsonDump),
        ("app-conf.toml", Format::Toml),
    ] {
        let i = Import::load(&fixture(file), &Flags::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(i.format, format, "{file}");
        let sc = under(&i, PLAIN).unwrap();
        let (c, t) = (&sc.celery, &sc.topology);
        assert_eq!(t.broker, BrokerKind::Redis, "{file}: redis:// is the Redis transport");
        assert_eq!(t.backend, BackendKind::Database, "{file}: db+postgresql:// polls with chord_unlock");
        assert_eq!(t.workers.iter().map(|w| w.concurrency).collect::<Vec<_>>(), [8], "{file}: worker_concurrency");
        assert_eq!(c.prefetch_multiplier, 1);
        assert_eq!(c.acks, AckMode::Late);
        assert!(c.reject_on_worker_lost && c.track_started);
        assert_eq!(c.visibility_timeout, SimDuration::from_secs(7200));
        assert_eq!(c.result_expires, Some(SimDuration::from_secs(86_400)), "{file}: a timedelta of one day");
        assert_eq!(c.soft_time_limit, Some(SimDuration::from_secs(3300)), "{file}: \"0:55:00\"");
        assert_eq!(c.time_limit, Some(SimDuration::from_secs(3600)));
        assert_eq!(c.chord_retry_interval, SimDuration::from_secs(2));
        assert_eq!(c.annotations["celery.chord_unlock"].max_retries, Some(Some(720)));
        let inert: Vec<&str> = c.inert.iter().map(|s| s.name.as_str()).collect();
        // retry_backoff on chord_unlock shapes only autoretry_for's retries (§3, §10).
        let want = [
            "result_extended",
            "task_annotations['celery.chord_unlock'].retry_backoff",
            "task_default_queue",
            "timezone",
            "worker_send_task_events",
        ];
        assert_eq!(inert, want, "{file}");
        seen.push(format!("{:?}", (&sc.celery, &sc.topology)));
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "the three imports differ:\n{}", seen.join("\n"));
}

#[test]
fn the_inspect_conf_fixture_is_what_real_celery_printed() {
    // Written by tools/celery-config/dump.py with Celery 5.7.0: masked secrets and str(timedelta).
    let text = std::fs::read_to_string(fixture("inspect-conf.json")).unwrap();
    for written_by_celery in ["\"celery@worker-1\"", "redis://:********@", "\"1 day, 0:00:00\"", "\"0:55:00\""] {
        assert!(text.contains(written_by_celery), "{written_by_celery}");
    }
    assert!(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/celery-config/dump.py").exists());
}

#[test]
fn imported_urls_warn_where_the_costs_or_facts_are_assumed() {
    let i = Import::load(&fixture("inspect-conf.json"), &Flags::default()).unwrap();
    let sc = under(&i, PLAIN).unwrap();
    let text: Vec<String> = sc.warnings.iter().map(|w| w.to_string()).collect();
    let all = text.join("\n");
    assert!(all.contains("inspect-conf.json:8:9: warning: celery.result_backend: the database backend's write and read costs are calibrated on SQLite"), "{all}");
    assert!(all.contains("celery.version: not in the configuration"), "{all}");
    assert!(all.contains("topology.workers: how many workers run"), "{all}");
    assert!(!all.contains("worker_concurrency"), "the fixture sets it: {all}");
    // Flags and the file's own tables silence what they answer.
    let flags = Flags { version: Some("5.5".into()), concurrency: Some(2), workers: Some(3) };
    let i = Import::load(&fixture("inspect-conf.json"), &flags).unwrap();
    let sc = under(&i, PLAIN).unwrap();
    assert_eq!(sc.celery.version.to_string(), "5.5");
    assert_eq!(
        sc.topology.workers.iter().map(|w| w.concurrency).collect::<Vec<_>>(),
        [2, 2, 2],
        "-c wins over the file"
    );
    let left: Vec<&str> = sc.warnings.iter().map(|w| w.field.as_str()).collect();
    assert_eq!(left, ["celery.result_backend"]);
}

#[test]
fn layers_stack_preset_then_import_then_the_file() {
    let i = import("c.json", r#"{"task_acks_late": true, "worker_concurrency": 3, "result_backend": "db+sqlite:///r.db", "task_track_started": true}"#).unwrap();
    // The rhesis preset: Redis backend, 8 processes, acks late; the file turns acks_late off.
    let text = "name = \"x\"\nabout = \"y\"\npreset = \"rhesis\"\n[celery]\ntask_acks_late = false\n[run]\ntests = 1\n[expect]\nstatus = \"Completed\"\n";
    let sc = under(&i, text).unwrap();
    assert_eq!(sc.topology.backend, BackendKind::Database, "the import over the preset's backend");
    assert_eq!(sc.topology.workers[0].concurrency, 3, "the import over the preset's concurrency");
    assert_eq!(sc.celery.acks, AckMode::Early, "the file over the import");
    assert!(sc.celery.track_started);
    let plain = Scenario::parse("s.toml", text).unwrap();
    assert_eq!(
        (plain.topology.backend, plain.topology.workers[0].concurrency),
        (BackendKind::Redis, 8),
        "the preset alone"
    );
}

#[test]
fn a_conflict_with_the_files_topology_names_both_places() {
    let i = import("conf.json", "{\n  \"result_backend\": \"db+sqlite:///r.db\"\n}\n").unwrap();
    let text = "name = \"x\"\nabout = \"y\"\n[topology]\nbackend = \"redis\"\n[run]\ntests = 1\n[expect]\nstatus = \"stuck\"\n";
    let e = under(&i, text).unwrap_err();
    assert!(e.starts_with("s.toml:4:11: topology.backend: backend = \"redis\" disagrees with result_backend = \"db+sqlite:///r.db\" (conf.json:2:3)"), "{e}");
    // The same inside one file: [celery] result_backend against its own [topology].
    let text = "name = \"x\"\nabout = \"y\"\n[celery]\nresult_backend = \"redis://h\"\nworker_concurrency = 6\n[topology]\nbackend = \"database\"\nconcurrency = 2\n[run]\ntests = 1\n[expect]\nstatus = \"stuck\"\n";
    let e = Scenario::parse("s.toml", text).unwrap_err().to_string();
    assert!(e.contains("s.toml:7:11: topology.backend: backend = \"database\" disagrees with result_backend = \"redis://h\" (line 4:18)"), "{e}");
    assert!(
        e.contains(
            "s.toml:8:15: topology.concurrency: concurrency = 2 disagrees with worker_concurrency = 6 (line 5:22)"
        ),
        "{e}"
    );
}

#[test]
fn result_backend_in_a_scenario_sets_the_chord_path() {
    // The trap of issue 11: db+postgresql in [celery] used to be reported inert while the run
    // used the Redis counter.
    let text = "name = \"x\"\nabout = \"y\"\n[celery]\nresult_backend = \"db+postgresql://u@h/db\"\nbroker_url = \"amqp://guest@h//\"\n[run]\ntests = 1\n[expect]\nstatus = \"Completed\"\n";
    let sc = Scenario::parse("s.toml", text).unwrap();
    assert_eq!((sc.topology.backend, sc.topology.broker), (BackendKind::Database, BrokerKind::Amqp));
    assert_eq!(sc.topology.backend_write_latency, SimDuration::from_millis(5), "the database's calibrated write");
    assert!(sc.celery.inert.iter().all(|s| s.name != "result_backend" && s.name != "broker_url"));
    let r = chordsim::run::run(sc, None);
    assert!(r.verdict.chord_unlock_runs >= 1, "chord_unlock polls the database");
}

#[test]
fn unsupported_backends_and_brokers_are_errors_naming_what_is_modelled() {
    for (setting, says) in [
        ("result_backend = \"rpc://\"", "does not support chords"),
        ("result_backend = \"django-db\"", "ChordCounter"),
        ("result_backend = \"cache+memcached://h/\"", "expected one of: redis://"),
        ("broker_url = \"sqs://\"", "the \"sqs\" transport is not modelled"),
    ] {
        let text = format!(
            "name = \"x\"\nabout = \"y\"\n[celery]\n{setting}\n[run]\ntests = 1\n[expect]\nstatus = \"stuck\"\n"
        );
        let e = Scenario::parse("s.toml", &text).unwrap_err().to_string();
        assert!(e.starts_with("s.toml:4:"), "{e}");
        assert!(e.contains(says), "{setting}: {e}");
        let json =
            format!("{{\"{}\": {}}}", setting.split(" = ").next().unwrap(), setting.split(" = ").nth(1).unwrap());
        let e = import("c.json", &json).unwrap_err();
        assert!(e.starts_with("c.json:1:2: celery."), "{e}");
        assert!(e.contains(says), "{e}");
    }
}

#[test]
fn formats_are_told_by_content_and_misreadings_are_refused() {
    assert_eq!(import("x.txt", "{\"a@b\": {\"task_acks_late\": true}}").unwrap().format, Format::InspectConf);
    assert_eq!(import("x.txt", "{\"task_acks_late\": true}").unwrap().format, Format::JsonDump);
    assert_eq!(import("x.json", "task_acks_late = true\n").unwrap().format, Format::Toml);
    let e = import("c.txt", "-> celery@h: OK\n    {'task_acks_late': True}\n").unwrap_err();
    assert!(e.contains("run `celery -A proj inspect conf --json`"), "{e}");
    let e =
        import("c.json", "{\"a@h\": {\"task_acks_late\": true},\n \"b@h\": {\"task_acks_late\": false}}").unwrap_err();
    assert!(e.starts_with("c.json:2:2: (nodes): the workers a@h and b@h report different configurations"), "{e}");
    // serde_json notices the bad literal at the end of its line.
    let e = import("c.json", "{\n \"task_acks_late\": tru\n}").unwrap_err();
    assert!(e.starts_with("c.json:3:1: (json): not valid JSON: expected ident at line 3"), "{e}");
    // Django's namespace='CELERY' names are Celery's settings.
    let i = import("c.json", "{\"CELERY_TASK_ACKS_LATE\": true}").unwrap();
    assert_eq!(under(&i, PLAIN).unwrap().celery.acks, AckMode::Late);
}

#[test]
fn a_version_only_setting_is_placed_in_the_import_when_the_file_picks_an_older_version() {
    let i = import("conf.json", "{\n \"task_acks_on_failure\": false\n}").unwrap();
    let text =
        "name = \"x\"\nabout = \"y\"\n[celery]\nversion = \"5.5\"\n[run]\ntests = 1\n[expect]\nstatus = \"stuck\"\n";
    let e = under(&i, text).unwrap_err();
    assert!(e.starts_with("s.toml:4:11: celery.task_acks_on_failure: as conf.json:2:2 sets it: `task_acks_on_failure` exists from Celery 5.7"), "{e}");
}

fn chordsim(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_chordsim"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_command_line_takes_one_config_flag_and_reports_its_problems_once() {
    // Two scenarios under the fixture: each warning printed once, not once per file.
    let dir = std::env::temp_dir().join(format!("chordsim-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["a.toml", "b.toml"] {
        std::fs::write(dir.join(name), PLAIN).unwrap();
    }
    let d = dir.to_str().unwrap();
    let out = chordsim(&["run", "--config", "tests/data/config/inspect-conf.json", "--celery-version", "5.7", d]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.matches("calibrated on SQLite").count(), 1, "{stderr}");
    assert!(!stderr.contains("celery.version"), "--celery-version answers it: {stderr}");
    let a = dir.join("a.toml");
    let out = chordsim(&["replay", "--config", "tests/data/config/app-conf.toml", a.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: celery.result_backend"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("chord_unlock polling"), "the import's backend");
    assert!(
        stdout.trim_end().ends_with("--config tests/data/config/app-conf.toml --seed 1"),
        "the rerun keeps the configuration: {stdout}"
    );
    // A bad configuration: one message, exit 2, before anything runs.
    let bad = dir.join("conf.json");
    std::fs::write(&bad, "{\"result_backend\": \"rpc://\"}").unwrap();
    let out = chordsim(&["run", "--config", bad.to_str().unwrap(), "scenarios/brief"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "{}:1:2: celery.result_backend: the rpc backend does not support chords",
            bad.display()
        )),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
    // What only a configuration completes needs one.
    let out = chordsim(&["run", "--celery-version", "5.5", "scenarios/brief"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config"));
}

#[test]
fn settings_that_do_nothing_here_are_named_with_why() {
    // chord_unlock's retries are its own countdown: retry_backoff and retry_jitter shape only
    // autoretry_for's (the popular configuration of §10).
    let text = "name = \"x\"\nabout = \"y\"\n[celery]\nversion = \"5.5\"\nresult_backend = \"db+sqlite:///r\"\nresult_backend_always_retry = true\n[celery.task_annotations.\"celery.chord_unlock\"]\nmax_retries = 5\nretry_backoff = true\nretry_jitter = false\n[run]\ntests = 1\n[expect]\nstatus = \"Completed\"\n";
    let sc = Scenario::parse("s.toml", text).unwrap();
    let inert: Vec<(&str, &str)> = sc.celery.inert.iter().map(|i| (i.name.as_str(), i.why.as_str())).collect();
    assert_eq!(inert.len(), 2, "{inert:?}");
    assert_eq!(inert[0].0, "task_annotations['celery.chord_unlock'].retry_backoff");
    assert!(inert[0].1.contains("shapes only autoretry_for's retries"), "{inert:?}");
    assert_eq!(sc.celery.annotations["celery.chord_unlock"].max_retries, Some(Some(5)), "max_retries does count");
    let warned: Vec<String> = sc.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        warned.iter().any(|w| w.starts_with(
            "s.toml:6:31: warning: celery.result_backend_always_retry: no effect with the database backend: 5.5's"
        )),
        "{warned:?}"
    );
    // Written back, the inert keys stay once and the file reads the same.
    let again = Scenario::parse("again.toml", &sc.to_toml()).unwrap();
    assert_eq!(again.celery.inert.len(), 2);
    // 5.6 honours always_retry on the database backend: no warning.
    let sc = Scenario::parse("s.toml", &text.replace("\"5.5\"", "\"5.6\"")).unwrap();
    assert!(sc.warnings.is_empty(), "{:?}", sc.warnings);
}

mod garbage {
    use chordsim::scenario::import::{Flags, Import};
    use proptest::prelude::*;

    /// JSON values of any shape, nested up to `depth`.
    fn json(depth: u32) -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| serde_json::json!(f)),
            "[a-z0-9:, .*@+/_-]{0,16}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(depth, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                prop::collection::btree_map("[a-z_.*@]{0,12}", inner, 0..5)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn settings() -> impl Strategy<Value = String> {
        let names = prop::sample::select(vec![
            "task_acks_late",
            "result_backend",
            "broker_url",
            "worker_concurrency",
            "task_annotations",
            "result_expires",
            "broker_transport_options",
            "task_time_limit",
            "made_up",
        ]);
        prop::collection::btree_map(names, json(3), 0..6).prop_map(|m| serde_json::to_string(&m).unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn any_text_is_read_or_refused_with_a_place(text in "\\PC*") {
            if let Err(e) = Import::parse("c.conf", &text, &Flags::default()) {
                prop_assert!(e.to_string().starts_with("c.conf"), "{}", e);
            }
        }

        #[test]
        fn any_json_settings_are_read_or_refused_with_a_place(text in settings()) {
            match Import::parse("c.json", &text, &Flags::default()) {
                Ok(i) => {
                    let plain = "name = \"x\"\nabout = \"y\"\n[run]\ntests = 1\n[expect]\nstatus = \"stuck\"\n";
                    let _ = chordsim::scenario::Scenario::parse_with("s.toml", plain, Some(&i), chordsim::scenario::Needs::Expectations);
                }
                Err(e) => prop_assert!(e.to_string().starts_with("c.json:"), "{}", e),
            }
        }

        #[test]
        fn deeply_nested_json_is_refused_not_a_panic(depth in 60usize..200) {
            let text = format!("{{\"task_annotations\": {}1{}}}", "[".repeat(depth), "]".repeat(depth));
            if let Err(e) = Import::parse("c.json", &text, &Flags::default()) {
                prop_assert!(e.to_string().starts_with("c.json:"), "{}", e);
            }
        }
    }
}

#[test]
fn a_toml_dump_nested_to_the_readers_limit_is_refused_not_a_panic() {
    let text = format!("task_annotations = {}1{}\n", "[".repeat(79), "]".repeat(79));
    match Import::parse("c.toml", &text, &Flags::default()) {
        Ok(_) => {}
        Err(e) => assert!(e.to_string().starts_with("c.toml:"), "{e}"),
    }
}

/// A TOML configuration's own `[topology]` answers what a Celery configuration does not carry:
/// no warning says the concurrency or the workers were assumed (it said so for the concurrency).
#[test]
fn a_toml_configurations_topology_is_not_reported_as_assumed() {
    let i = import("c.toml", "[celery]\nversion = \"5.5\"\n[topology]\nworkers = 2\nconcurrency = 6\n").unwrap();
    let sc = under(&i, PLAIN).unwrap();
    assert_eq!(sc.topology.workers.iter().map(|w| w.concurrency).collect::<Vec<_>>(), [6, 6]);
    let fields: Vec<&str> = sc.warnings.iter().map(|w| w.field.as_str()).collect();
    assert!(fields.is_empty(), "{fields:?}");
}
