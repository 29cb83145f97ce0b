//! The end-to-end and artefact tests (`--features e2e`), in one binary (one link of the crate
//! instead of one per file): the real `llm-soak` binary against the simulator, real Prometheus
//! and promtool, llama.cpp, and the cross-artefact checks. nextest runs each test in its own process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../checks/exposition.rs"]
mod exposition;

mod alerting;
mod apis;
mod artefacts;
mod bench;
mod commands;
mod deploy;
mod e2e;
mod exercises;
mod faults;
mod helm;
mod interop;
mod lifecycle;
mod modes;
mod newuser;
mod ordinary;
mod package;
mod pages;
mod prometheus;
mod provoke;
mod rehearsal;
mod release;
mod replay;
mod reports;
mod resume;
mod security;
mod server;
mod simulator;
mod sweep;
mod telemetry;
mod tls;
mod traces;
mod truth;
mod workload;
