//! The integration suite: one binary, real parts only — real SQLite files, a real
//! Postgres (started by `scripts/test`), real HTTP over loopback against a gateway
//! spawned in-process on port 0, and the real binary for command-line behaviour.
//!
//! Every engine-dependent test runs twice, `…::sqlite` and `…::postgres`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod launcher;
mod load_smoke;

mod admin_cli;
mod api;
mod audit;
mod bad_input;
mod cli;
mod config;
mod discovery;
mod faults;
mod fuzz;
mod mcp;
mod owner;
mod phase8;
mod plane;
mod raw;
mod replicas;
mod store;
mod tasker;
