//! End-to-end tests: the real `zsc` binary against the in-process emulator over HTTP on
//! 127.0.0.1. One test binary (as just and ripgrep do); the harness is in `harness.rs`.

mod harness;

mod access;
mod backends;
mod bad_input;
mod bench_smoke;
mod ci;
mod cli;
mod core_loop;
mod corpus;
mod dialects;
mod emulator_cli;
mod faults;
mod gitops;
mod guardrails;
mod identity;
mod import;
mod interop;
mod model;
mod reliability;
mod servers;
mod tenant_identity;
