//! The fast tier: checks that need nothing installed — the config table and its messages, the
//! metric catalogue against what the exporter really writes, the docs against the catalogue,
//! the module layout and its import graph, fuzz regressions, the command line's exit codes.
//! `cargo test` runs these and the unit tests; the end-to-end and artefact tests are the `it`
//! binary (`--features e2e`, which scripts/test.sh enables after installing what they need).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod catalogue;
mod cli;
mod config;
mod docs;
mod exposition;
mod fuzz_regressions;
mod layout;

/// The `llm-soak` binary cargo built for these tests.
pub(crate) fn bin() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_llm-soak"))
}
