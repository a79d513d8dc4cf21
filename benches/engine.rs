//! Engine and exploration benchmarks (divan). `cargo bench` runs them; CI only compiles them.
//! Each run reports its simulated events as the throughput counter, so divan prints events/s.

use chordsim::explore::{Options, Stop, explore};
use chordsim::run::{Driver, run, run_on};
use chordsim::scenario::Scenario;
use divan::Bencher;
use divan::counter::ItemsCount;

fn main() {
    divan::main();
}

fn scenario(tests: usize, extra: &str) -> Scenario {
    let workers = tests.div_ceil(100).max(1);
    let text = format!(
        r#"name = "bench"
about = "bench"
horizon = "10m"
[topology]
workers = {workers}
concurrency = 100
[run]
tests = {tests}
duration = "1s..5s"
{extra}
[expect]
status = "Completed"
"#
    );
    Scenario::parse("bench.toml", &text).unwrap()
}

fn bench_run(b: Bencher, sc: Scenario) {
    let events = run(sc.clone(), None).events;
    b.counter(ItemsCount::new(events)).with_inputs(|| sc.clone()).bench_values(|sc| run(sc, None));
}

/// The same, over turmoil's simulated TCP (`--driver turmoil`): against its `bench_run`
/// twin, the driver's cost.
fn bench_turmoil(b: Bencher, sc: Scenario) {
    let events = run_on(sc.clone(), None, Driver::Turmoil).events;
    b.counter(ItemsCount::new(events)).with_inputs(|| sc.clone()).bench_values(|sc| run_on(sc, None, Driver::Turmoil));
}

fn kill_and_partition() -> Scenario {
    let faults = r#"[[fault]]
at = "2s"
kind = "kill_worker"
worker = "w1"
restart_after = "5s"
[[fault]]
at = "3s"
kind = "partition"
between = ["w1", "backend"]
heal_after = "30s""#;
    let mut sc = scenario(100, faults);
    sc.celery.acks = chordsim::config::AckMode::Late;
    sc.celery.visibility_timeout = chordsim::time::SimDuration::from_secs(60);
    sc
}

#[divan::bench]
fn chord_100_tests(b: Bencher) {
    bench_run(b, scenario(100, ""));
}

#[divan::bench]
fn chord_100_tests_worker_kill_and_partition(b: Bencher) {
    bench_run(b, kill_and_partition());
}

#[divan::bench(sample_count = 20)]
fn chord_100_tests_over_turmoil(b: Bencher) {
    bench_turmoil(b, scenario(100, ""));
}

#[divan::bench(sample_count = 20)]
fn chord_100_tests_worker_kill_and_partition_over_turmoil(b: Bencher) {
    bench_turmoil(b, kill_and_partition());
}

#[divan::bench(sample_count = 10)]
fn chord_1000_tests_over_turmoil(b: Bencher) {
    bench_turmoil(b, scenario(1_000, ""));
}

#[divan::bench]
fn one_hour_of_chord_unlock_polling_for_ever(b: Bencher) {
    let text = r#"name = "poll"
about = "poll"
horizon = "1h"
[topology]
backend = "database"
[run]
tests = 2
duration = "1s"
outcome = "hang"
[expect]
status = "stuck"
"#;
    bench_run(b, Scenario::parse("poll.toml", text).unwrap());
}

#[divan::bench]
fn chord_1000_tests(b: Bencher) {
    bench_run(b, scenario(1_000, ""));
}

#[divan::bench(sample_count = 20)]
fn chord_10000_tests(b: Bencher) {
    bench_run(b, scenario(10_000, ""));
}

/// Celery 5.5's sorted-set duplicate check: it must stay linear in the header size.
#[divan::bench(sample_count = 20)]
fn chord_10000_tests_celery_5_5(b: Bencher) {
    let mut sc = scenario(10_000, "");
    sc.celery.version = chordsim::version::CeleryVersion::V5_5;
    bench_run(b, sc);
}

fn explore_preset(b: Bencher, threads: usize) {
    let base = Scenario::parse(
        "p.toml",
        "name = \"p\"\nabout = \"p\"\npreset = \"rhesis\"\n[run]\ntests = 0\n[expect]\nstatus = \"stuck\"\n",
    )
    .unwrap();
    let cases = 2_000;
    let opts = Options {
        base,
        cases,
        seed: 1,
        shard: (1, 1),
        max_tests: 12,
        threads,
        shrink_runs: 0,
        config: None,
        policy_endings_fail: false,
    };
    b.counter(ItemsCount::new(cases)).bench(|| explore(&opts, &Stop::new(), &|| {}));
}

#[divan::bench(sample_count = 10)]
fn explore_scenarios_one_thread(b: Bencher) {
    explore_preset(b, 1);
}

#[divan::bench(sample_count = 10)]
fn explore_scenarios_all_threads(b: Bencher) {
    explore_preset(b, std::thread::available_parallelism().map_or(1, |n| n.get()));
}

/// One polling backend, one hung test among `tests`, polled for an hour (the costs of issue 9:
/// a poll must not read every result).
fn polling_behind_a_hung_test(tests: usize) -> Scenario {
    let text = format!(
        "name = \"p\"\nabout = \"p\"\nhorizon = \"1h\"\n[topology]\nbackend = \"database\"\nconcurrency = 64\n\
         [run]\ntests = {tests}\nduration = \"1ms\"\n[[run.override]]\ntest = {}\noutcome = \"hang\"\n\
         [expect]\nstatus = \"stuck\"\n",
        tests - 1
    );
    Scenario::parse("poll.toml", &text).unwrap()
}

#[divan::bench]
fn an_hour_polling_10_tests_behind_a_hung_one(b: Bencher) {
    bench_run(b, polling_behind_a_hung_test(10));
}

#[divan::bench(sample_count = 20)]
fn an_hour_polling_10000_tests_behind_a_hung_one(b: Bencher) {
    bench_run(b, polling_behind_a_hung_test(10_000));
}

/// A test longer than the visibility timeout, redelivered every sweep for 100 days: the trace
/// must stay the size of a day's.
#[divan::bench(sample_count = 20)]
fn a_hundred_days_of_redeliveries(b: Bencher) {
    let text = "name = \"r\"\nabout = \"r\"\nhorizon = \"100d\"\n[celery]\ntask_acks_late = true\n\
                broker_transport_options = { visibility_timeout = 60 }\n[run]\ntests = 3\n\
                [[run.override]]\ntest = 1\noutcome = \"hang\"\n[expect]\nstatus = \"stuck\"\n";
    bench_run(b, Scenario::parse("redeliver.toml", text).unwrap());
}

/// Rendering a file of 10,000 problems (the first 50, then a count): linear in the file.
#[divan::bench(sample_count = 20)]
fn ten_thousand_problems(b: Bencher) {
    let mut text = String::from("name = \"x\"\nabout = \"y\"\n[run]\ntests = 1\n[expect]\nstatus = \"stuck\"\n");
    for i in 0..10_000 {
        text.push_str(&format!("[[fault]]\nat = \"{i}s\"\nkind = \"nonsense\"\n"));
    }
    b.bench(|| Scenario::parse("many.toml", &text).unwrap_err().to_string().len());
}
