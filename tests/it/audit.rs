//! Regressions from the adversarial audit of the command line (issue 9): each test names the
//! defect it pins, `r9_<item>_…`, and fails on the code the audit ran against.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chordsim"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn chordsim(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

/// A fresh, empty folder for one test.
fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chordsim-audit-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Wait for a child, killing it (and failing the test) if it has not ended after `limit`: a
/// safety net against hangs, not a timing assertion.
fn wait(mut child: Child, limit: Duration, what: &str) -> Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("{what}: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The brief worker-kill scenario, expecting Completed: it fails (exit 1).
fn failing(dir: &Path) -> PathBuf {
    let file = dir.join("failing.toml");
    let t = std::fs::read_to_string("scenarios/brief/worker-killed-early-ack.toml")
        .unwrap()
        .replace("status = \"stuck\"", "status = \"Completed\"");
    std::fs::write(&file, t).unwrap();
    file
}

// 1. `report --out DIR` removes only what an earlier report wrote.

#[test]
fn r9_1_report_refuses_a_folder_that_is_not_a_report_and_touches_nothing() {
    let dir = scratch("report-foreign");
    let mine = [("README.md", "mine"), ("notes.json", "{}"), ("photo.svg", "<svg/>"), ("index.md", "my index")];
    for (name, body) in mine {
        std::fs::write(dir.join(name), body).unwrap();
    }
    let out = chordsim(&["report", "scenarios/brief", "--out", dir.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a chordsim report"), "{stderr}");
    for (name, body) in mine {
        assert_eq!(std::fs::read_to_string(dir.join(name)).unwrap(), body, "{name} was touched");
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), mine.len(), "nothing was added");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn r9_1_a_second_report_removes_only_what_the_first_wrote() {
    let dir = scratch("report-again");
    let d = dir.to_str().unwrap();
    let first = chordsim(&["report", "scenarios/brief", "--out", d]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    assert!(dir.join("brief__partition-worker-backend.md").is_file());
    std::fs::write(dir.join("notes.md"), "my notes").unwrap();
    std::fs::create_dir(dir.join("drafts")).unwrap();
    std::fs::write(dir.join("drafts/x.md"), "draft").unwrap();
    let second = chordsim(&["report", "scenarios/brief/subtask-returns-none.toml", "--out", d]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    assert!(!dir.join("brief__partition-worker-backend.md").exists(), "a page the first report wrote is stale");
    assert!(!dir.join("brief__partition-worker-backend.svg").exists());
    assert!(dir.join("brief__subtask-returns-none.md").is_file());
    assert_eq!(std::fs::read_to_string(dir.join("notes.md")).unwrap(), "my notes");
    assert_eq!(std::fs::read_to_string(dir.join("drafts/x.md")).unwrap(), "draft");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn r9_1_a_report_never_overwrites_a_file_no_report_wrote() {
    let dir = scratch("report-collide");
    let d = dir.to_str().unwrap();
    assert_eq!(chordsim(&["report", "scenarios/brief/subtask-returns-none.toml", "--out", d]).status.code(), Some(0));
    std::fs::write(dir.join("brief__partition-worker-backend.md"), "mine").unwrap();
    let out = chordsim(&["report", "scenarios/brief", "--out", d]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("brief__partition-worker-backend.md"), "{stderr}");
    assert_eq!(std::fs::read_to_string(dir.join("brief__partition-worker-backend.md")).unwrap(), "mine");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn r9_1_the_committed_baseline_refreshes_in_place() {
    // A copy of reports/ is an earlier report: refreshing it writes the same files and removes
    // nothing.
    let dir = scratch("baseline");
    let copy = dir.join("reports");
    std::fs::create_dir(&copy).unwrap();
    for e in std::fs::read_dir("reports").unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, copy.join(p.file_name().unwrap())).unwrap();
    }
    let before = contents(&copy);
    let out = chordsim(&["report", "--out", copy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("(removed 0 stale)"), "{}", text(&out.stdout));
    assert!(contents(&copy) == before, "the baseline is up to date, so nothing changes");
    std::fs::remove_dir_all(&dir).unwrap();
}

// 2. A write error on standard output never turns a failure into success.

fn to_dev_full(args: &[&str]) -> Output {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    bin().args(args).stdout(full).output().unwrap()
}

#[test]
fn r9_2_a_full_stdout_exits_2_with_a_message() {
    let dir = scratch("dev-full");
    let f = failing(&dir);
    let f = f.to_str().unwrap();
    for args in [
        &["run", f][..],
        &["run", f, "--json"],
        &["replay", f],
        &["run", "scenarios/brief"],
        &["replay", "scenarios/brief/subtask-returns-none.toml"],
    ] {
        let out = to_dev_full(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("standard output"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Run with standard output a pipe whose reading end is closed at once.
fn to_closed_pipe(args: &[&str]) -> Output {
    let mut child = bin().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    wait(child, Duration::from_secs(120), "closed pipe")
}

#[test]
fn r9_2_a_closed_pipe_keeps_the_verdicts_exit_code() {
    let dir = scratch("closed-pipe");
    let f = failing(&dir);
    let f = f.to_str().unwrap();
    for (args, code) in [
        (&["run", "scenarios/brief", f][..], 1),
        (&["run", "scenarios/brief", f, "--json"], 1),
        (&["replay", f], 1),
        (&["run", "scenarios/brief"], 0),
    ] {
        let out = to_closed_pipe(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

// 4. SIGTERM and SIGHUP stop explore like Ctrl-C; a second signal stops shrinking.

/// A long exploration, and its standard error line by line.
struct Exploring {
    child: Child,
    stderr: std::sync::mpsc::Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

impl Exploring {
    /// Wait until standard error says `what` (a minute at most).
    fn wait_for(&mut self, what: &str) {
        let start = Instant::now();
        while !text(&self.seen).contains(what) {
            let left = Duration::from_secs(60).saturating_sub(start.elapsed());
            match self.stderr.recv_timeout(left) {
                Ok(bytes) => self.seen.extend_from_slice(&bytes),
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("no {what:?} on stderr within a minute: {}", text(&self.seen));
                }
            }
        }
    }

    fn finish(self, what: &str) -> Output {
        std::thread::spawn(move || while self.stderr.recv().is_ok() {});
        wait(self.child, Duration::from_secs(120), what)
    }
}

/// Start a long exploration and wait until it reports its projected duration on stderr (by
/// then it handles signals and is exploring).
fn long_explore(out: &Path, max_tests: &str) -> Exploring {
    let mut child = bin()
        .args(["explore", "--preset", "seed-doc", "--cases", "1000000000000", "--max-tests", max_tests, "--json"])
        .args(["--out", out.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Read stderr on its own thread (so that waiting can time out), and keep draining it so the
    // child never blocks on it.
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut e = Exploring { child, stderr: rx, seen: Vec::new() };
    e.wait_for("estimate");
    e
}

fn signal(e: &Exploring, sig: &str) {
    assert!(Command::new("kill").args([&format!("-{sig}"), &e.child.id().to_string()]).status().unwrap().success());
}

fn summary_of(out: &Output) -> serde_json::Value {
    let stdout = text(&out.stdout);
    let last = stdout.lines().last().unwrap_or_else(|| panic!("no output; exit {:?}", out.status));
    serde_json::from_str(last).unwrap()
}

#[test]
fn r9_4_sigterm_and_sighup_stop_explore_keeping_what_was_found() {
    for sig in ["TERM", "HUP"] {
        let dir = scratch(&format!("signal-{sig}"));
        let e = long_explore(&dir, "12");
        signal(&e, sig);
        let out = e.finish(sig);
        assert_eq!(out.status.code(), Some(130), "SIG{sig}");
        let summary = summary_of(&out);
        assert_eq!(summary["data"]["interrupted"], true, "SIG{sig}");
        let files = super::toml_files(&dir);
        assert!(files > 0, "SIG{sig}: what was found is kept");
        assert_eq!(files as u64, summary["data"]["distinct_failures"].as_u64().unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn r9_4_a_second_signal_stops_shrinking_and_still_writes_what_was_found() {
    let dir = scratch("signal-twice");
    // Large headers, so that shrinking takes long enough for the second signal to land in it.
    let mut e = long_explore(&dir, "200");
    signal(&e, "TERM");
    e.wait_for("a second signal stops shrinking");
    signal(&e, "TERM");
    let out = e.finish("two signals");
    assert_eq!(out.status.code(), Some(130));
    let summary = summary_of(&out);
    assert_eq!(summary["data"]["interrupted"], true);
    assert_eq!(summary["data"]["shrinking_stopped"], true, "{summary}");
    let replay = chordsim(&["run", dir.to_str().unwrap()]);
    assert_eq!(replay.status.code(), Some(0), "unshrunk files still replay:\n{}", text(&replay.stdout));
    std::fs::remove_dir_all(&dir).unwrap();
}

// 5. `--out` is checked before exploring.

#[test]
fn r9_5_an_unusable_out_folder_is_refused_before_exploring() {
    let dir = scratch("bad-out");
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    for out_path in [file.clone(), file.join("sub")] {
        let child = bin()
            .args(["explore", "--cases", "1000000000000", "--json", "--out", out_path.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = wait(child, Duration::from_secs(60), "explore with a bad --out");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("--out"), "{stderr}");
        assert!(out.stdout.is_empty());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

// 6. Output files are written whole or not at all.

/// Run the binary under `ulimit -f` (512-byte blocks in sh), ignoring SIGXFSZ when `ignore`,
/// so that a write beyond the limit fails with EFBIG instead of killing the process.
fn under_file_size_limit(blocks: u32, ignore: bool, args: &[&str]) -> Output {
    let trap = if ignore { "trap '' XFSZ; " } else { "" };
    let script = format!("{trap}ulimit -f {blocks}; exec \"$0\" \"$@\"");
    Command::new("sh")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_chordsim"))
        .args(args)
        .output()
        .unwrap()
}

fn assert_every_toml_parses(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let t = std::fs::read_to_string(&p).unwrap();
            assert!(chordsim::scenario::Scenario::parse("x.toml", &t).is_ok(), "{} is partial", p.display());
        }
    }
}

#[test]
fn r9_6_a_file_size_limit_leaves_no_partial_counterexample() {
    for ignore in [true, false] {
        let dir = scratch(&format!("fsize-{ignore}"));
        let d = dir.to_str().unwrap();
        let out = under_file_size_limit(2, ignore, &["explore", "--preset", "seed-doc", "--cases", "100", "--out", d]);
        assert_ne!(out.status.code(), Some(1), "the writes cannot have succeeded");
        if ignore {
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{stderr}");
            assert!(stderr.contains(d), "names the file: {stderr}");
        }
        assert_every_toml_parses(&dir);
        if ignore {
            // Counterexamples small enough for the limit are written whole (they hold only what
            // differs from the configuration); nothing partial or temporary is left.
            let names: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert!(names.iter().all(|n| !n.starts_with('.') && n.ends_with(".toml")), "{names:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn r9_6_a_file_size_limit_leaves_reports_and_junit_whole() {
    let dir = scratch("fsize-report");
    let report = dir.join("report");
    let out = under_file_size_limit(8, true, &["report", "scenarios/brief", "--out", report.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    for e in std::fs::read_dir(&report).unwrap() {
        let p = e.unwrap().path();
        assert!(!p.file_name().unwrap().to_string_lossy().contains(".tmp"), "{} left behind", p.display());
    }
    let junit = dir.join("junit.xml");
    std::fs::write(&junit, "old").unwrap();
    let out = under_file_size_limit(1, true, &["run", "scenarios", "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&junit).unwrap(), "old", "the old file is kept whole");
    std::fs::remove_dir_all(&dir).unwrap();
}

// 10. Only regular files are read, under a size limit; no link is followed twice.

#[test]
fn r9_10_replay_and_run_refuse_what_is_not_a_regular_file() {
    let dir = scratch("fifo");
    let fifo = dir.join("pipe.toml");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for args in [
        &["replay", fifo.to_str().unwrap()][..],
        &["run", fifo.to_str().unwrap()],
        &["replay", "/dev/zero"],
        &["run", "/dev/urandom"],
    ] {
        let child = bin().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let out = wait(child, Duration::from_secs(30), "a FIFO or a device");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("not a regular file"), "{args:?}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn r9_10_a_scenario_file_over_the_size_limit_is_refused() {
    let dir = scratch("big");
    let big = dir.join("big.toml");
    let mut f = std::fs::File::create(&big).unwrap();
    let line = format!("# {}\n", "x".repeat(1000));
    for _ in 0..17 * 1024 {
        f.write_all(line.as_bytes()).unwrap();
    }
    drop(f);
    let out = chordsim(&["run", big.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("16 MiB"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn r9_10_a_symlink_loop_runs_each_file_once() {
    let dir = scratch("loop");
    std::fs::copy("scenarios/brief/subtask-returns-none.toml", dir.join("a.toml")).unwrap();
    std::os::unix::fs::symlink(&dir, dir.join("again")).unwrap();
    std::os::unix::fs::symlink(dir.join("a.toml"), dir.join("b.toml")).unwrap();
    let out = chordsim(&["run", dir.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(summary_of(&out)["data"]["scenarios"], 1, "{}", text(&out.stdout));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn r9_10_a_dash_reads_the_scenario_from_standard_input() {
    let scenario = std::fs::read("scenarios/brief/subtask-returns-none.toml").unwrap();
    for cmd in ["run", "replay"] {
        let mut child = bin().args([cmd, "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(&scenario).unwrap();
        let out = wait(child, Duration::from_secs(30), "stdin");
        assert_eq!(out.status.code(), Some(0), "{cmd}");
        assert!(text(&out.stdout).contains("<stdin>"), "{cmd}: {}", text(&out.stdout));
    }
}

// 12. Control characters cannot break the XML outputs.

#[test]
fn r9_12_a_control_character_in_a_name_keeps_junit_and_svg_valid() {
    let dir = scratch("control");
    let t = std::fs::read_to_string("scenarios/brief/subtask-returns-none.toml").unwrap();
    let name_line = t.lines().find(|l| l.starts_with("name = ")).unwrap();
    let t = t.replace(name_line, "name = \"bell \\u0007 and escape \\u001b[31m\"");
    let f = dir.join("control.toml");
    std::fs::write(&f, t.replace("status = \"Completed\"", "status = \"Failed\"")).unwrap();
    let junit = dir.join("junit.xml");
    chordsim(&["run", f.to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(!xml.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')), "{xml:?}");
    let mut reader = quick_xml::Reader::from_str(&xml);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("JUnit XML does not parse: {e}\n{xml}"),
        }
    }
    let report = dir.join("report");
    let out = chordsim(&["report", f.to_str().unwrap(), "--out", report.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let svg = std::fs::read_dir(&report)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "svg"))
        .expect("a picture");
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(!svg.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')));
    resvg::usvg::Tree::from_str(&svg, &resvg::usvg::Options::default()).expect("the SVG parses");
    std::fs::remove_dir_all(&dir).unwrap();
}

// 3. Every file explore writes parses and replays, whatever the configuration holds.

const EVERY_VALUE_KIND: &str = r#"
name = "a configuration with every TOML value kind and awkward keys"
about = "issue 9, item 3"
preset = "seed-doc"

[celery]
accept_content = ["json", "msgpack"]
task_routes = { "proj.tasks.*" = { queue = "tests" } }
result_backend = 'db+sqlite:///C:\Users\me\results.db'
"weird key" = 1
"dotted.key" = true
"quote\"key" = 1.5e3
"" = "the empty key"
"ünïcode" = 0x1F
octal = 0o755
binary = 0b1010
underscored = 1_000
infinite = inf
not_a_number = nan
negative_zero = -0.0
offset_datetime = 1979-05-27T07:32:00Z
local_datetime = 1979-05-27T07:32:00
local_date = 1979-05-27
local_time = 07:32:00
nested = { a = { b = [1, 2, { c = "d" }] } }
empty = []
mixed = [1, "two", 3.0, true]
multiline = """
line one
line "two"\ttabbed"""

[celery.task_annotations."celery.chord_unlock"]
"rate.limit" = "10/s"
rate_limit = "10/s"

[celery.task_annotations."*"]
on_failure = { handler = "proj.handlers.log" }

[[celery.beat_schedule_list]]
task = "a"

[[celery.beat_schedule_list]]
task = "b"

[run]
tests = 2

[expect]
status = "stuck"
"#;

#[test]
fn r9_3_a_configuration_with_every_value_kind_round_trips_its_inert_settings() {
    let sc = super::parse(EVERY_VALUE_KIND);
    assert!(sc.celery.inert.len() >= 25, "{:?}", sc.celery.inert);
    let text = sc.to_toml();
    let back = chordsim::scenario::Scenario::parse("back.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let key = |i: &chordsim::config::InertSetting| (i.name.clone(), i.place.clone(), i.value.clone(), i.why.clone());
    let (before, after): (Vec<_>, Vec<_>) =
        (sc.celery.inert.iter().map(key).collect(), back.celery.inert.iter().map(key).collect());
    assert_eq!(after, before, "{text}");
}

#[test]
fn r9_3_every_counterexample_of_such_a_configuration_parses_and_replays() {
    let dir = scratch("every-kind");
    let config = dir.join("config.toml");
    std::fs::write(&config, EVERY_VALUE_KIND).unwrap();
    let out = dir.join("found");
    let explored =
        chordsim(&["explore", "--config", config.to_str().unwrap(), "--cases", "200", "--out", out.to_str().unwrap()]);
    assert_eq!(explored.status.code(), Some(1), "seed-doc fails: {}", text(&explored.stderr));
    assert!(super::toml_files(&out) > 0);
    let replay = chordsim(&["run", out.to_str().unwrap()]);
    assert_eq!(replay.status.code(), Some(0), "{}{}", text(&replay.stdout), text(&replay.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

// 13. Sharded exploration merges into exactly what one unsharded run writes.

/// Every file of a folder, by name.
fn contents(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())
        })
        .collect()
}

fn explore_into(dir: &Path, extra: &[&str], env: Option<&str>) -> Output {
    let mut c = bin();
    c.args(["explore", "--preset", "rhesis", "--cases", "400", "--json", "--out", dir.to_str().unwrap()]).args(extra);
    match env {
        Some(i) => c.env("JOB_COMPLETION_INDEX", i),
        None => c.env_remove("JOB_COMPLETION_INDEX"),
    };
    c.output().unwrap()
}

#[test]
fn r9_13_merged_shards_are_byte_for_byte_one_unsharded_run() {
    let dir = scratch("shards");
    let whole = dir.join("whole");
    assert_eq!(explore_into(&whole, &[], None).status.code(), Some(1));
    let shards: Vec<PathBuf> = (0..3).map(|i| dir.join(format!("shard{i}"))).collect();
    for (i, s) in shards.iter().enumerate() {
        // Kubernetes Indexed Jobs: a 0-based index in the environment.
        let out = explore_into(s, &["--shards", "3"], Some(&i.to_string()));
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out.stderr));
        assert_eq!(summary_of(&out)["data"]["shard"], format!("{}/3", i + 1));
    }
    for (order, name) in [([0, 1, 2], "merged"), ([2, 0, 1], "merged-again")] {
        let merged = dir.join(name);
        let mut args = vec!["explore".to_string(), "merge".to_string()];
        args.extend(order.iter().map(|&i| shards[i].to_string_lossy().into_owned()));
        args.extend(["--out".to_string(), merged.to_string_lossy().into_owned()]);
        let out = bin().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let (a, b) = (contents(&whole), contents(&merged));
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "the same files ({name})");
        for (file, bytes) in &a {
            assert!(b[file] == *bytes, "{file} differs after merging in order {order:?}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn r9_13_merge_refuses_what_one_run_would_not_write() {
    let dir = scratch("merge-refuses");
    let one = dir.join("one");
    let two = dir.join("two");
    explore_into(&one, &["--shard", "1/2"], None);
    explore_into(&two, &["--shard", "2/2", "--seed", "9"], None);
    let out = chordsim(&["explore", "merge", one.to_str().unwrap(), "--out", dir.join("m1").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("2/2 are missing"), "{}", text(&out.stderr));
    let both = [one.to_str().unwrap(), two.to_str().unwrap()];
    let out = chordsim(&["explore", "merge", both[0], both[1], "--out", dir.join("m2").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("another exploration"), "{}", text(&out.stderr));
    let out = explore_into(&dir.join("bad-index"), &["--shards", "3"], Some("3"));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("JOB_COMPLETION_INDEX=3"), "{}", text(&out.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

// 14. A long exploration says how long it will take, on stderr only; --threads.

#[test]
fn r9_14_a_long_exploration_prints_its_estimate_on_stderr_and_never_on_stdout() {
    let dir = scratch("estimate");
    let mut e = long_explore(&dir, "12");
    assert!(text(&e.seen).contains("cases/s"), "{}", text(&e.seen));
    signal(&e, "INT");
    e.wait_for("stopping");
    let out = e.finish("estimate");
    for line in text(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(v["type"].is_string());
    }
    let budget = bin()
        .args(["explore", "--cases", "1000000000000", "--time-budget", "3s", "--threads", "1", "--json"])
        .args(["--out", dir.join("budget").to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = text(&budget.stderr);
    assert!(stderr.contains("beyond the --time-budget of 3s"), "{stderr}");
    let summary = summary_of(&budget);
    assert_eq!(summary["data"]["threads"], 1);
    assert_eq!(summary["data"]["interrupted"], true, "stopped by the budget");
    let short = chordsim(&["explore", "--cases", "20", "--json", "--out", dir.join("short").to_str().unwrap()]);
    assert!(!text(&short.stderr).contains("estimate"), "a short exploration says nothing: {}", text(&short.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

// 7. The event budget bounds the work; a run stopped by it never reads as a pass.

/// 100,000 tests on a polling backend, one hung, for ten years: every poll used to read every
/// result (181 s in a release build).
const HUNG_FOR_TEN_YEARS: &str = r#"
name = "100,000 tests, one hung, polled for ten years"
about = "issue 9, item 7"
horizon = "3650d"
[topology]
backend = "database"
[run]
tests = 100000
[[run.override]]
test = 5
outcome = "hang"
[expect]
status = "stuck"
"#;

#[test]
fn r9_7_a_run_that_exhausts_the_event_budget_stops_soon_and_is_not_a_pass() {
    let dir = scratch("budget");
    let f = dir.join("hung.toml");
    std::fs::write(&f, HUNG_FOR_TEN_YEARS).unwrap();
    let child = bin().args(["run", f.to_str().unwrap()]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let out = wait(child, Duration::from_secs(300), "ten years of polling");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("event budget"), "{stdout}");
    assert!(!stdout.lines().any(|l| l.contains("hung.toml") && l.ends_with(" yes")), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn r9_7_ten_million_pool_processes_are_refused_with_the_limit() {
    // visibility_timeout = 1 with 1000 workers of 10,000 processes and 100,000 tests ran for
    // minutes in 4 GB: every process may hold a running task and its pending end.
    let e = chordsim::scenario::Scenario::parse(
        "storm.toml",
        "name = \"s\"\nabout = \"a\"\n[celery]\nbroker_transport_options = { visibility_timeout = 1 }\n\
         [topology]\nworkers = 1000\nconcurrency = 10000\n[run]\ntests = 100000\n[expect]\nstatus = \"stuck\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("storm.toml:6:11: topology.workers: 1000 workers with 10000000 pool processes"), "{e}");
    assert!(e.contains("at most 100000"), "{e}");
}

#[test]
fn r9_7_a_polls_cost_does_not_grow_with_the_header() {
    // Polling for ever behind one hung test, with 10 and with 20,000 passing tests: the work
    // (items scanned, which the event budget counts) that a second hour of polling adds, per
    // poll, must not grow with the header.
    let run = |tests: u32, horizon: &str| {
        let sc = super::parse(&format!(
            "name = \"p\"\nabout = \"a\"\nhorizon = \"{horizon}\"\n[topology]\nbackend = \"database\"\nconcurrency = 64\n\
             [run]\ntests = {tests}\nduration = \"1ms\"\n[[run.override]]\ntest = {}\noutcome = \"hang\"\n\
             [expect]\nstatus = \"stuck\"\n",
            tests - 1
        ));
        let r = chordsim::run::run(sc, None);
        (r.verdict.chord_unlock_runs, r.work)
    };
    for tests in [10, 20_000] {
        let (polls_1h, work_1h) = run(tests, "1h");
        let (polls_2h, work_2h) = run(tests, "2h");
        let polls = polls_2h - polls_1h;
        assert!(polls > 50, "{tests} tests: {polls} polls in the second hour");
        let per_poll = (work_2h - work_1h) / polls;
        assert!(per_poll <= 16, "{tests} tests: a poll scans {per_poll} items");
    }
}

#[test]
fn r9_7_a_sweep_with_nothing_due_costs_nothing_per_unacked_message() {
    // 2,000 messages sit unacked behind a hung test, far younger than a day-long visibility
    // timeout: each restore sweep used to look at every one of them.
    let sc = super::parse(
        "name = \"s\"\nabout = \"a\"\nhorizon = \"10h\"\n[celery]\ntask_acks_late = true\n\
         worker_prefetch_multiplier = 0\nbroker_transport_options = { visibility_timeout = 86400 }\n\
         [topology]\nconcurrency = 1\n[run]\ntests = 2000\n[[run.override]]\ntest = 0\noutcome = \"hang\"\n\
         [expect]\nstatus = \"stuck\"\n",
    );
    let r = chordsim::run::run(sc, None);
    assert!(r.work < 50_000, "360 sweeps over 2,000 unacked messages cost {}", r.work);
}

#[test]
fn r9_7_a_long_run_reports_its_progress() {
    let sc = super::parse(HUNG_FOR_TEN_YEARS);
    let mut seen = Vec::new();
    let whole = chordsim::run::run_observed(sc.clone(), None, chordsim::run::Driver::Events, &mut |p| seen.push(p.now));
    assert!(seen.len() > 10, "{} reports", seen.len());
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "virtual time only goes forward");
    let quiet = chordsim::run::run(sc, None);
    assert_eq!(whole.events, quiet.events, "reporting does not change the run");
    assert_eq!(whole.trace, quiet.trace);
}

#[test]
fn r9_7_on_a_terminal_a_long_run_shows_a_progress_bar() {
    // `script` gives the command a terminal; the bar appears once a run has done a twentieth of
    // the event budget, which this one exceeds.
    let dir = scratch("tty");
    let f = dir.join("hung.toml");
    std::fs::write(&f, HUNG_FOR_TEN_YEARS).unwrap();
    let cmd = format!("{} run {}", env!("CARGO_BIN_EXE_chordsim"), f.display());
    let out = Command::new("script").args(["-qec", &cmd, "/dev/null"]).output().unwrap();
    assert!(text(&out.stdout).contains("s of virtual time"), "{}", text(&out.stdout));
    let plain = chordsim(&["run", f.to_str().unwrap()]);
    assert!(!text(&plain.stderr).contains("virtual time"), "no bar off a terminal");
    std::fs::remove_dir_all(&dir).unwrap();
}

// 8. Memory is proportional to the tests, not to simulated time.

fn records_at(toml: &str, horizon: &str) -> usize {
    let text = toml.replace("horizon = \"HORIZON\"", &format!("horizon = \"{horizon}\""));
    chordsim::run::run(super::parse(&text), None).trace.len()
}

#[test]
fn r9_8_redeliveries_sweeps_and_polls_keep_the_trace_of_a_day_for_a_hundred_days() {
    let f12 = std::fs::read_to_string("scenarios/catalogue/f12-long-task-redelivered-5.7.toml")
        .unwrap()
        .replace("horizon = \"15m\"", "horizon = \"HORIZON\"");
    let hung_late = "name = \"h\"\nabout = \"a\"\nhorizon = \"HORIZON\"\n[celery]\ntask_acks_late = true\n\
                     broker_transport_options = { visibility_timeout = 60 }\n[run]\ntests = 3\n\
                     [[run.override]]\ntest = 1\noutcome = \"hang\"\n[expect]\nstatus = \"stuck\"\n";
    let polling = std::fs::read_to_string("scenarios/config/defaults-poll-forever.toml")
        .unwrap()
        .replace("horizon = \"10m\"", "horizon = \"HORIZON\"");
    for (name, toml) in [("F12 redeliveries", f12.as_str()), ("hung acks_late", hung_late), ("polls", &polling)] {
        let (day, hundred) = (records_at(toml, "1d"), records_at(toml, "100d"));
        assert!(hundred <= day + 16, "{name}: {day} records for a day, {hundred} for a hundred days");
    }
}

// 9. Error rendering is linear and capped.

#[test]
fn r9_9_a_hundred_thousand_problems_render_the_first_fifty_and_a_count() {
    let dir = scratch("problems");
    let f = dir.join("many.toml");
    let mut t = String::from("name = \"x\"\nabout = \"y\"\n[run]\ntests = 1\n[expect]\nstatus = \"stuck\"\n");
    for i in 0..100_000 {
        t.push_str(&format!("[[fault]]\nat = \"{i}s\"\nkind = \"nonsense\"\n"));
    }
    std::fs::write(&f, &t).unwrap();
    let child = bin().args(["run", f.to_str().unwrap()]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let out = wait(child, Duration::from_secs(120), "100,000 problems");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    let headed = stderr.lines().filter(|l| l.starts_with(f.to_str().unwrap()) && l.contains(": fault[")).count();
    assert_eq!(headed, 50, "{}", &stderr[..2000.min(stderr.len())]);
    assert!(stderr.contains("… and 99950 more problems"), "{}", &stderr[stderr.len().saturating_sub(500)..]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn r9_9_a_syntax_error_in_a_long_single_line_file_shows_a_window_of_it() {
    let long = format!("name = \"x\" {}", "y".repeat(1_000_000));
    let e = chordsim::scenario::Scenario::parse("long.toml", &long).unwrap_err().to_string();
    assert!(e.starts_with("long.toml:1:"), "{}", &e[..200.min(e.len())]);
    assert!(e.len() < 2_000, "the message shows a window of the line, not all of it: {} bytes", e.len());
}

// 11. Say what is wrong where it is.

fn problems_of(toml: &str) -> String {
    chordsim::scenario::Scenario::parse("x.toml", toml).map(|_| String::new()).unwrap_or_else(|e| e.to_string())
}

const HEAD: &str = "name = \"x\"\nabout = \"y\"\n";

#[test]
fn r9_11_a_fault_after_the_horizon_is_refused() {
    let e = problems_of(&format!(
        "{HEAD}horizon = \"1h\"\n[run]\ntests = 1\n[[fault]]\nat = \"2h\"\nkind = \"cancel_run\"\n[expect]\nstatus = \"stuck\"\n"
    ));
    assert!(e.starts_with("x.toml:7:6: fault[0].at: at 2h is not before the horizon (1h)"), "{e}");
}

#[test]
fn r9_11_a_misspelt_setting_is_a_warning_in_run_with_what_was_meant() {
    let dir = scratch("typo");
    let f = dir.join("typo.toml");
    let t = std::fs::read_to_string("scenarios/brief/subtask-returns-none.toml").unwrap();
    assert!(!t.contains("[celery]"));
    let line = t.lines().count() + 3;
    std::fs::write(&f, format!("{t}\n[celery]\ntask_acks_lte = true\n")).unwrap();
    let out = chordsim(&["run", f.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!(":{line}:1: warning: celery.task_acks_lte: not a Celery setting")), "{stderr}");
    assert!(stderr.contains("did you mean task_acks_late?"), "{stderr}");
    let json = chordsim(&["run", f.to_str().unwrap(), "--json"]);
    let first: serde_json::Value = serde_json::from_str(text(&json.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(first["type"], "warning");
    assert_eq!(first["data"]["field"], "celery.task_acks_lte");
    assert_eq!((first["data"]["line"].as_u64(), first["data"]["column"].as_u64()), (Some(line as u64), Some(1)));
    let shipped = chordsim(&["run"]);
    assert!(shipped.stderr.is_empty(), "the shipped scenarios stay quiet: {}", text(&shipped.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn r9_11_limits_are_named_in_the_messages() {
    let long =
        problems_of(&format!("{HEAD}horizon = \"99999999999h\"\n[run]\ntests = 1\n[expect]\nstatus = \"stuck\"\n"));
    assert!(long.contains("is too long; expected a duration of at most 100000000000s"), "{long}");
    let big =
        problems_of(&format!("{HEAD}seed = 9223372036854775808\n[run]\ntests = 1\n[expect]\nstatus = \"stuck\"\n"));
    assert!(big.contains("from -9223372036854775808 to 9223372036854775807"), "{big}");
}

#[test]
fn r9_11_a_table_of_the_wrong_type_is_one_problem_not_two() {
    let e = problems_of(&format!("{HEAD}run = \"tests\"\n[expect]\nstatus = \"stuck\"\n"));
    assert!(e.contains("run: expected a table, found string"), "{e}");
    assert!(!e.contains("missing"), "{e}");
}

#[test]
fn r9_11_a_missing_file_a_non_utf8_file_and_a_deep_key_say_what_and_where() {
    let dir = scratch("where");
    let missing = chordsim(&["run", dir.join("nope.toml").to_str().unwrap()]);
    assert!(text(&missing.stderr).contains("nope.toml: no such file"), "{}", text(&missing.stderr));
    let latin1 = dir.join("latin1.toml");
    std::fs::write(&latin1, b"name = \"caf\xe9\"\n").unwrap();
    let out = chordsim(&["run", latin1.to_str().unwrap()]);
    assert!(
        text(&out.stderr).contains("latin1.toml:1:12: (encoding): byte 0xE9 is not UTF-8"),
        "{}",
        text(&out.stderr)
    );
    let deep =
        format!("{HEAD}[celery.{}]\nk = 1\n[run]\ntests = 1\n[expect]\nstatus = \"stuck\"\n", vec!["a"; 80].join("."));
    let e = problems_of(&deep);
    assert!(e.starts_with("x.toml:3:1: (toml): a key of 81 dotted parts"), "{}", &e[..200.min(e.len())]);
    std::fs::remove_dir_all(&dir).unwrap();
}
