//! The `chordsim` binary: only the command line; everything else is in the library.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    chordsim::cli::main()
}
