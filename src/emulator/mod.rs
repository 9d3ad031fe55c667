//! The in-process SCIM 2.0 server: the demo tenant (`kind: emulator`), the target of every
//! end-to-end test, and of the benchmarks.
//!
//! It imitates the three dialects (`scim`, `zia`, `zpa`) with the quirks Zscaler documents
//! (see `docs/zscaler-scim.md`), keeps its data in memory and optionally in a JSON file
//! (saved atomically after every successful write, before the answer is sent), requires a bearer
//! token on Users and Groups, and can inject faults: latency, 429 with or without Retry-After,
//! a rate limit, 5xx answers, cut-off responses and smaller pages; and take on behaviours of
//! other servers that clients trip over ([`Quirk`]: strict schemas, PUT clearing what it
//! omits, no PATCH, ...). It logs the requests it answers for tests to compare with a plan.
//!
//! What it must not do: talk to anything but its own listener, log the token, or invent dialect
//! knowledge. What differs between services comes from [`crate::dialect`]; the few facts only a
//! server needs (URL shapes, id styles, response cosmetics) live in `quirks.rs`.
//!
//! Layout: this file is the public API and server wiring; `routes/` the HTTP handlers and the
//! fault/stats/auth middleware; `store/` the data, its indexes and write rules; `patch.rs` and
//! `filter.rs` the SCIM request languages; `view.rs` the per-dialect response shapes;
//! `persist.rs` the data file; `faults.rs`, `stats.rs` and `request_log.rs` the knobs, counters
//! and request log; `schema.rs` and `strict.rs` attribute names and the `strict_schemas` check;
//! `discovery.rs` the RFC 7643 discovery documents; `quirks.rs` the emulator-only dialect facts.

mod discovery;
mod error;
mod faults;
mod filter;
mod patch;
mod persist;
mod quirks;
mod request_log;
mod routes;
mod schema;
mod stats;
mod store;
mod strict;
mod view;

#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::dialect::Dialect;
use crate::scim::wire::{WireGroup, WireUser};

pub use error::EmulatorError;
pub use faults::{Discovery, Faults, Quirk};
pub use request_log::LoggedRequest;
pub use stats::Stats;

use error::ApiError;
use faults::FaultState;
use persist::Persister;
use request_log::RequestLog;
use store::{Rules, Store, StoreSwitches};

/// How to run an emulated tenant.
#[derive(Clone)]
pub struct EmulatorOptions {
    pub dialect: Dialect,
    /// The bearer token required on Users and Groups requests.
    pub token: String,
    /// Where to keep the data as JSON ([`EmulatorData`]); `None` keeps it in memory only.
    pub data_file: Option<PathBuf>,
    pub faults: Faults,
    /// Registered userName domains: when not empty, a userName in another domain is refused
    /// with 400, as ZIA does (zia/understanding-scim). Empty accepts any.
    pub domains: Vec<String>,
    /// userNames linked to admin accounts: their DELETE answers 409 "Admin user cannot be
    /// deleted" and changes nothing, as ZIA does under its default admin setting.
    pub admin_users: Vec<String>,
}

impl EmulatorOptions {
    /// Memory only, no faults, any domain, no admin users.
    pub fn new(dialect: Dialect, token: impl Into<String>) -> Self {
        EmulatorOptions {
            dialect,
            token: token.into(),
            data_file: None,
            faults: Faults::default(),
            domains: Vec::new(),
            admin_users: Vec::new(),
        }
    }
}

impl std::fmt::Debug for EmulatorOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorOptions")
            .field("dialect", &self.dialect)
            .field("token", &"[redacted]")
            .field("data_file", &self.data_file)
            .field("faults", &self.faults)
            .field("domains", &self.domains)
            .field("admin_users", &self.admin_users)
            .finish()
    }
}

/// Everything an emulated tenant holds, in insertion order. This is the data file's format:
/// `{"users": [SCIM User, ...], "groups": [SCIM Group with "members": [{"value": id,
/// "display": userName}], ...]}`. Users are stored in canonical form: `department` in the
/// enterprise extension only and no `groups` (a user's groups are derived from the groups'
/// members). Missing ids are assigned on load.
///
/// The data file also keeps the attributes the emulator stores without modelling them
/// (`title`, `phoneNumbers`, ...), merged into each resource; these typed resources do not
/// carry them, so [`EmulatorHandle::snapshot`] leaves them out and
/// [`EmulatorHandle::replace_data`] seeds none.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EmulatorData {
    #[serde(default)]
    pub users: Vec<WireUser>,
    #[serde(default)]
    pub groups: Vec<WireGroup>,
}

/// What an emulator started on the data file at `path` would serve: the snapshot with its log
/// replayed (see `persist.rs`), without changing either; `None` when there is no such file.
pub fn read_data_file(path: &std::path::Path) -> Result<Option<EmulatorData>, EmulatorError> {
    let rules = Rules::new(Dialect::Scim, &[], &[], StoreSwitches::default());
    Ok(persist::read(path, rules)?.map(|store| store.to_data()))
}

/// The path the SCIM endpoints of a dialect live under, in the shape its documentation shows:
/// `/scim/v2`, `/8651360/48097/scim` (ZIA) or `/scim/1/72058300560048147/v2` (ZPA).
pub fn base_path(dialect: Dialect) -> &'static str {
    quirks::quirks(dialect).base_path
}

/// State shared by every request.
pub(crate) struct Shared {
    pub dialect: Dialect,
    token: String,
    pub base_url: String,
    /// Reads (listings, gets) share it, so pages render in parallel; writes take it alone.
    pub store: RwLock<Store>,
    pub faults: Mutex<FaultState>,
    pub stats: Mutex<Stats>,
    request_log: Mutex<RequestLog>,
    pub persister: Option<Persister>,
    seed: u64,
    domains: Vec<String>,
    admin_users: Vec<String>,
}

impl Shared {
    /// The store for a write.
    pub fn store(&self) -> RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The store for a read, shared with other readers.
    pub fn store_read(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn faults(&self) -> MutexGuard<'_, FaultState> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn stats(&self) -> MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn request_log(&self) -> MutexGuard<'_, RequestLog> {
        self.request_log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Compare a presented token with ours in time independent of where they differ.
    pub fn token_matches(&self, presented: &str) -> bool {
        let (a, b) = (presented.as_bytes(), self.token.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// Make the store's state at `version` durable (in the data file's log) before the caller
    /// answers.
    pub async fn persist(self: &Arc<Self>, version: u64) -> Result<(), ApiError> {
        if self.persister.is_none() {
            return Ok(());
        }
        let shared = Arc::clone(self);
        tokio::task::spawn_blocking(move || match &shared.persister {
            Some(persister) => persister.save(&shared.store, version),
            None => Ok(()),
        })
        .await
        .map_err(|e| ApiError::internal(format!("saving the data failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("the change was made but could not be saved: {e}")))
    }

    /// Change the faults from now on: the store's switches and the dice alike. The one way
    /// they change, for [`EmulatorHandle::set_faults`] and `PUT /_emulator/faults`.
    pub fn set_faults(&self, faults: Faults) {
        self.store().rules_mut().switches = StoreSwitches::from_faults(&faults);
        self.faults().set(faults);
    }

    /// The write rules, with the switches of the faults in force.
    fn rules(&self) -> Rules {
        let switches = StoreSwitches::from_faults(self.faults().faults());
        Rules::new(self.dialect, &self.domains, &self.admin_users, switches)
    }
}

/// Start serving on `listener`. Loads `options.data_file` when it exists (a file that is not
/// valid emulator data is an error naming it); otherwise starts empty and writes the empty
/// tenant there at once, so an unwritable path fails here.
pub async fn serve(
    listener: tokio::net::TcpListener,
    options: EmulatorOptions,
) -> Result<EmulatorHandle, EmulatorError> {
    let addr = listener.local_addr().map_err(EmulatorError::Listener)?;
    let url_addr = if addr.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
    } else {
        addr
    };
    let base_url = format!("http://{url_addr}{}", base_path(options.dialect));
    let rules = Rules::new(
        options.dialect,
        &options.domains,
        &options.admin_users,
        StoreSwitches::from_faults(&options.faults),
    );
    let seed = options.faults.seed;
    let (store, persister) = match &options.data_file {
        Some(path) => {
            let (store, persister) = Persister::open(path, rules, seed)?;
            (store, Some(persister))
        }
        None => (Store::new(rules, seed), None),
    };
    let shared = Arc::new(Shared {
        dialect: options.dialect,
        token: options.token,
        base_url: base_url.clone(),
        store: RwLock::new(store),
        faults: Mutex::new(FaultState::new(options.faults)),
        stats: Mutex::new(Stats::default()),
        request_log: Mutex::new(RequestLog::default()),
        persister,
        seed,
        domains: options.domains,
        admin_users: options.admin_users,
    });
    let app = routes::router(Arc::clone(&shared));
    let (stop, stopped) = oneshot::channel::<()>();
    // Answers go out as soon as they are written, as a real server's do (no Nagle delay
    // between a response's head and its body).
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
        let _ = stream.set_nodelay(true);
    });
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                // A dropped handle stops the server too.
                let _ = stopped.await;
            })
            .await
    });
    tracing::debug!(%base_url, dialect = %shared.dialect, "emulator listening");
    Ok(EmulatorHandle {
        addr,
        base_url,
        shared,
        stop: Some(stop),
        task: Some(task),
    })
}

/// A running emulator. Dropping it stops the server (without the final save that
/// [`EmulatorHandle::shutdown`] makes).
pub struct EmulatorHandle {
    addr: SocketAddr,
    base_url: String,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl EmulatorHandle {
    /// The SCIM base URL, e.g. `http://127.0.0.1:PORT/scim/v2`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The same counters as `GET /_emulator/stats`.
    pub fn stats(&self) -> Stats {
        self.shared.stats().clone()
    }

    /// The Users and Groups requests answered since start or [`EmulatorHandle::clear_request_log`],
    /// oldest first (the last 100,000 at most), as `GET /_emulator/log` serves them.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.shared.request_log().entries()
    }

    /// Forget the logged requests (as `POST /_emulator/log/reset` does).
    pub fn clear_request_log(&self) {
        self.shared.request_log().clear();
    }

    /// The current data.
    pub fn snapshot(&self) -> EmulatorData {
        self.shared.store().to_data()
    }

    /// Replace all data at once (tests and benchmarks seed large tenants this way). Unlike a
    /// data file, inconsistent data is not refused: duplicates are skipped with a warning, and
    /// member ids of no user are kept as dangling members. Saved to the data file, if any.
    pub fn replace_data(&self, data: EmulatorData) {
        let fresh = Store::from_data(self.shared.rules(), self.shared.seed, data.into(), false);
        match fresh {
            Ok(mut fresh) => {
                let mut store = self.shared.store();
                fresh.follow_version(store.version());
                if self.shared.persister.is_some() {
                    fresh.keep_log();
                }
                *store = fresh;
            }
            Err(detail) => {
                tracing::warn!("emulator: replace_data refused: {detail}");
                return;
            }
        }
        if let Some(persister) = &self.shared.persister {
            // The log records changes, not a replacement: the snapshot takes it whole.
            if let Err(e) = persister.checkpoint(&self.shared.store, false) {
                tracing::warn!("emulator: {e}");
            }
        }
    }

    /// Change the faults from now on (the dice are reseeded from `faults.seed`).
    pub fn set_faults(&self, faults: Faults) {
        self.shared.set_faults(faults);
    }

    /// Stop accepting requests, let those in flight finish (for at most 10 seconds), and save the
    /// data file.
    pub async fn shutdown(mut self) -> Result<(), EmulatorError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            match tokio::time::timeout(Duration::from_secs(10), &mut task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => return Err(EmulatorError::Server(e.to_string())),
                Ok(Err(e)) => return Err(EmulatorError::Server(e.to_string())),
                Err(_) => {
                    tracing::warn!("emulator: requests still running after 10 s; stopping anyway");
                    task.abort();
                }
            }
        }
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || match &shared.persister {
            Some(persister) => persister.checkpoint(&shared.store, true),
            None => Ok(()),
        })
        .await
        .map_err(|e| EmulatorError::Server(e.to_string()))?
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
