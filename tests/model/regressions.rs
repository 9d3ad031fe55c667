//! Histories the model-based test once failed, shrunk, each named for what it guards.

#[allow(unused_imports)]
use super::{replay_ok, History, Obj, Step, Switch};
