//! `zsc state list|show|rm|unlock|pull|push|migrate`: read, edit and move what zsc manages.
//! None of these contacts a tenant; those that write the state do so under its lock.

use std::path::{Path, PathBuf};

use crate::config::BackendOverride;
use crate::error::Error;
use crate::model::folded;
use crate::plan::change::{group_address, user_address};
use crate::plan::Address;
use crate::state::backend::{parse_state, Pushed};
use crate::state::{
    rules, Backend, LockWait, ManagedGroup, ManagedUser, State, StateOp, StateStore,
};

pub use crate::state::backend::Unlocked;

use super::Workspace;

/// The state, for `zsc state list`.
pub async fn list(store: &Backend) -> Result<State, Error> {
    Ok(store.load().await?.state)
}

/// A managed record, for `zsc state show ADDR`.
pub enum Record {
    User(ManagedUser),
    /// A group, with the userNames of its members where state knows them.
    Group(ManagedGroup, crate::state::TenantState),
}

pub async fn show(store: &Backend, address: &str) -> Result<(String, Record), Error> {
    let address = Address::parse(address).map_err(|e| Error::Targets(vec![e.to_string()]))?;
    let state = store.load().await?.state;
    let tenant = state.tenants.get(address.tenant());
    let record = match (&address, tenant) {
        (Address::User { user_name, .. }, Some(t)) => t
            .users
            .get(folded(user_name).as_ref())
            .map(|u| Record::User(u.clone())),
        (Address::Group { name, .. }, Some(t)) => t
            .groups
            .get(folded(name).as_ref())
            .map(|g| Record::Group(g.clone(), t.clone())),
        (Address::User { .. } | Address::Group { .. }, None) => None,
        (Address::Tenant(_) | Address::Membership { .. }, _) => {
            return Err(Error::Refusal(format!(
                "`zsc state show` takes a user or group address, not `{address}`"
            )))
        }
    };
    let record = record.ok_or_else(|| not_managed(&address, store))?;
    Ok((address.tenant().to_owned(), record))
}

fn not_managed(address: &Address, store: &Backend) -> Error {
    Error::Refusal(format!(
        "`{address}` is not managed: the {} holds no such object (see `zsc state list`)",
        store.describe()
    ))
}

/// Remove users and groups from state. All or nothing: every address must name a managed
/// object, or nothing is saved. Returns the addresses removed.
pub async fn rm(ws: &Workspace, addresses: &[String]) -> Result<Vec<String>, Error> {
    let mut parsed = Vec::with_capacity(addresses.len());
    for a in addresses {
        parsed.push(Address::parse(a).map_err(|e| Error::Targets(vec![e.to_string()]))?);
    }
    ws.locked("state rm", rm_locked(&ws.store, &parsed)).await
}

async fn rm_locked(store: &Backend, parsed: &[Address]) -> Result<Vec<String>, Error> {
    let loaded = store.load().await?;
    if !loaded.existed && loaded.replayed == 0 {
        return Err(Error::Refusal(format!(
            "there is no state in the {}: zsc manages nothing yet",
            store.describe()
        )));
    }
    let mut state = loaded.state;
    let mut removed = Vec::new();
    for address in parsed {
        let ops = removal(&state, address).ok_or_else(|| not_managed(address, store))?;
        for (tenant, op, shown) in ops {
            state.apply(&tenant, &op);
            removed.push(shown);
        }
    }
    store.commit(&mut state).await?;
    Ok(removed)
}

/// The state ops that stop managing what `address` names, with each object's address; `None`
/// when it names nothing managed. A removed group takes its member list with it; a removed
/// user's id stays in the member lists of managed groups (the membership is still wanted there).
fn removal(state: &State, address: &Address) -> Option<Vec<(String, StateOp, String)>> {
    let tenant = address.tenant();
    let t = state.tenants.get(tenant)?;
    let user_op = |u: &ManagedUser| {
        (
            tenant.to_owned(),
            StateOp::RemoveUser {
                user_name: u.user_name.clone(),
            },
            user_address(tenant, &u.user_name),
        )
    };
    let group_op = |g: &ManagedGroup| {
        (
            tenant.to_owned(),
            StateOp::RemoveGroup {
                name: g.name.clone(),
            },
            group_address(tenant, &g.name),
        )
    };
    match address {
        Address::Tenant(_) => Some(
            t.users
                .values()
                .map(user_op)
                .chain(t.groups.values().map(group_op))
                .collect(),
        ),
        Address::User { user_name, .. } => t
            .users
            .get(folded(user_name).as_ref())
            .map(|u| vec![user_op(u)]),
        Address::Group { name, .. } => t
            .groups
            .get(folded(name).as_ref())
            .map(|g| vec![group_op(g)]),
        Address::Membership { .. } => None,
    }
}

/// Show who holds the lock; release it when its holder is gone, when `id` names it, or with
/// `force` regardless.
pub async fn unlock(store: &Backend, id: Option<&str>, force: bool) -> Result<Unlocked, Error> {
    Ok(store.unlock(id, force).await?)
}

/// The stored state's bytes (`zsc state pull`); `None` when nothing is stored.
pub async fn pull(store: &Backend) -> Result<Option<Vec<u8>>, Error> {
    Ok(store.pull().await?)
}

/// `zsc state push FILE`: the state in `file`, as it is, under the lineage and serial rules
/// unless `force`.
pub async fn push(ws: &Workspace, file: &Path, force: bool) -> Result<Pushed, Error> {
    let state = read_state_file(file)?;
    ws.locked("state push", async {
        Ok(ws.store.push(&state, force).await?)
    })
    .await
}

fn read_state_file(file: &Path) -> Result<State, Error> {
    let bytes = std::fs::read(file).map_err(|e| Error::file("read", file, e))?;
    parse_state(&bytes).map_err(|why| {
        Error::Refusal(format!(
            "`{}` is not a state zsc can push: {why}",
            file.display()
        ))
    })
}

/// Where `zsc state migrate` takes the state from.
pub enum MigrateFrom {
    /// A local state file (default: `.zsc/state.json` beside the configuration).
    File(Option<PathBuf>),
    /// A backend described by `--from-backend-config KEY=VALUE` (with `kind`).
    Backend(Vec<BackendOverride>),
}

/// What a migration did.
pub struct Migrated {
    pub from: String,
    pub to: String,
    pub lineage: String,
    pub serial: u64,
    /// The destination held this state already.
    pub already: bool,
}

/// `zsc state migrate`: copy the state from `from` into the configured backend, under both
/// locks and the rules (unless `force`), and check the copy by reading it back. The old
/// location is left as it was.
pub async fn migrate(ws: &Workspace, from: &MigrateFrom, force: bool) -> Result<Migrated, Error> {
    let source = match from {
        MigrateFrom::File(path) => Backend::Local(StateStore::new(
            path.clone()
                .unwrap_or_else(|| ws.config.dir.join(".zsc").join("state.json")),
        )),
        MigrateFrom::Backend(overrides) => {
            let config = crate::config::backend_from_overrides(overrides, &ws.config.dir)?;
            Backend::open(
                &config,
                ws.config.dir.join(".zsc/state.json"),
                &ws.config.dir.join(".zsc/migrate-from"),
            )?
        }
    };
    let (from_name, to_name) = (source.describe(), ws.store.describe());
    if from_name == to_name {
        return Err(Error::Refusal(format!(
            "the state is in the {to_name} already: name where it is now with `--from FILE` or \
             `--from-backend-config KEY=VALUE`"
        )));
    }
    let wait = LockWait {
        timeout: ws.lock_timeout,
        waiting: &*ws.lock_waiting,
    };
    let source_lock = source.lock("state migrate", &wait).await?;
    let result = ws
        .locked("state migrate", copy(&source, &ws.store, force))
        .await;
    let released = source.release(source_lock).await;
    let (state, pushed) = result?;
    released?;
    Ok(Migrated {
        from: from_name,
        to: to_name,
        lineage: state.lineage,
        serial: state.serial,
        already: pushed == Pushed::Same,
    })
}

async fn copy(source: &Backend, dest: &Backend, force: bool) -> Result<(State, Pushed), Error> {
    let loaded = source.load().await?;
    if !loaded.existed && loaded.replayed == 0 {
        return Err(Error::Refusal(format!(
            "the {} holds no state: there is nothing to migrate",
            source.describe()
        )));
    }
    let state = loaded.state;
    let pushed = dest.push(&state, force).await?;
    // Read it back: the old location is the only copy until the new one is known to hold it.
    let check = dest.pull().await?.ok_or_else(|| {
        Error::Internal(format!(
            "the {} holds no state after the migration",
            dest.describe()
        ))
    })?;
    let copied = parse_state(&check).map_err(|why| {
        Error::Internal(format!(
            "the {} holds no valid state after the migration: {why}",
            dest.describe()
        ))
    })?;
    if rules::Stored::of(&copied) != rules::Stored::of(&state) {
        return Err(Error::Internal(format!(
            "the {} does not hold the migrated state when read back; the old state was left as \
             it was",
            dest.describe()
        )));
    }
    Ok((state, pushed))
}
