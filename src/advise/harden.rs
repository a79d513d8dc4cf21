//! `chordsim harden` (next).
