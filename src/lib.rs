//! chordsim: a deterministic simulation and fault-injection harness for Celery chords.
//!
//! A scenario ([`scenario::Scenario`]) describes a Celery configuration, a chord of test tasks,
//! the application around it and scripted faults. [`run::run`] builds the sans-IO model
//! ([`model::World`]), drives it with the discrete-event engine ([`sim::Sim`]) in virtual time,
//! and checks the trace ([`check`]) for a verdict: the run's terminal status, or *stuck* with a
//! cause chain, and every safety property broken. Same scenario and seed, same trace, on any
//! machine: nothing here reads a clock, the OS's entropy, or iterates a hash map into output.

#![forbid(unsafe_code)]

pub mod advise;
pub mod check;
pub mod cli;
pub mod config;
pub mod explore;
pub mod model;
#[cfg(feature = "python")]
mod python;
pub mod report;
pub mod run;
pub mod scenario;
pub mod sim;
pub mod time;
pub mod trace;
pub mod version;
