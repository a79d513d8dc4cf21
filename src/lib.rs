//! chordsim: a deterministic simulation and fault-injection harness for Celery chords.
//!
//! A scenario ([`scenario::Scenario`]) describes a Celery configuration, a chord of test tasks,
//! the application around it and scripted faults. [`run::run`] builds the sans-IO model
//! ([`model::World`]), drives it with the discrete-event engine ([`sim::Sim`]) in virtual time,
//! and checks the trace ([`check`]) for a verdict: the run's terminal status, or *stuck* with a
//! cause chain, and every safety property broken. Same scenario and seed, same trace, on any
//! machine: nothing here reads a clock, the OS's entropy, or iterates a hash map into output.

//!
//! The public API is what a scenario says and what a run answers: [`scenario`] (the file
//! format, presets, imported configurations) with [`config`], [`time`] and [`version`] for its
//! values; [`words`] for the words every layer shares (a task, its stored state, the
//! properties); [`run`], [`check`] (verdicts, properties, cause chains) and [`trace`] (what a run
//! did); [`explore`], [`advise`] (lint and harden) and [`report`]; and [`cli`], the command
//! line. The command line and the Python package (`python/`, feature `python`) stand on it.
//! The model and the engine (`model`, `sim`) are internal: their state machines change as the
//! model learns more of Celery, and nothing outside the crate reaches them.

#![forbid(unsafe_code)]

pub mod advise;
pub mod check;
pub mod cli;
pub mod config;
pub mod explore;
mod model;
#[cfg(feature = "python")]
mod python;
pub mod report;
pub mod run;
pub mod scenario;
mod sim;
pub mod time;
pub mod trace;
pub mod version;
pub mod words;
