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
mod doctor;
mod emulator_cli;
mod faults;
mod gitops;
mod guardrails;
mod identity;
mod import;
mod interop;
mod membership_source;
mod model;
mod python;
mod reliability;
mod servers;
mod targeted;
mod tenant_identity;
