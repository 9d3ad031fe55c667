//! `zsc state list|show|rm|unlock`: read and edit what zsc manages. None of these contacts a
//! tenant; `rm` changes only the state file, under the state lock.

use crate::error::Error;
use crate::model::folded;
use crate::plan::change::{group_address, user_address};
use crate::plan::Address;
use crate::state::{LockInfo, ManagedGroup, ManagedUser, State, StateError, StateOp, StateStore};

/// The state, for `zsc state list`.
pub fn list(store: &StateStore) -> Result<State, Error> {
    Ok(store.load()?.state)
}

/// A managed record, for `zsc state show ADDR`.
pub enum Record {
    User(ManagedUser),
    /// A group, with the userNames of its members where state knows them.
    Group(ManagedGroup, crate::state::TenantState),
}

pub fn show(store: &StateStore, address: &str) -> Result<(String, Record), Error> {
    let address = Address::parse(address).map_err(|e| Error::Targets(vec![e.to_string()]))?;
    let state = store.load()?.state;
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

fn not_managed(address: &Address, store: &StateStore) -> Error {
    Error::Refusal(format!(
        "`{address}` is not managed: `{}` holds no such object (see `zsc state list`)",
        store.path().display()
    ))
}

/// Remove users and groups from state. All or nothing: every address must name a managed
/// object, or nothing is saved. Returns the addresses removed.
pub fn rm(store: &StateStore, addresses: &[String]) -> Result<Vec<String>, Error> {
    let mut parsed = Vec::with_capacity(addresses.len());
    for a in addresses {
        parsed.push(Address::parse(a).map_err(|e| Error::Targets(vec![e.to_string()]))?);
    }
    let _lock = store.lock("state rm")?;
    let loaded = store.load()?;
    if !loaded.existed && loaded.replayed == 0 {
        return Err(Error::Refusal(format!(
            "there is no state file at `{}`: zsc manages nothing yet",
            store.path().display()
        )));
    }
    let mut state = loaded.state;
    let mut removed = Vec::new();
    for address in &parsed {
        let ops = removal(&state, address).ok_or_else(|| not_managed(address, store))?;
        for (tenant, op, shown) in ops {
            state.apply(&tenant, &op);
            removed.push(shown);
        }
    }
    store.commit(&mut state)?;
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

/// What `zsc state unlock` did.
pub enum Unlocked {
    /// Nobody held the lock (`Some`: a dead holder's record was cleared).
    Free(Option<LockInfo>),
    /// Its holder still held it, and `--force` released it anyway.
    Forced(Option<LockInfo>),
}

/// Show who holds the lock; release it when its holder is gone, or with `force` regardless.
pub fn unlock(store: &StateStore, force: bool) -> Result<Unlocked, Error> {
    // Unreadable holder information must not stop the unlock that clears it.
    let recorded = match store.lock_info() {
        Ok(info) => info,
        Err(StateError::LockInfoCorrupt { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    match store.lock("state unlock") {
        Ok(lock) => {
            // Nobody holds it: dropping our lock removes the file and whatever a dead holder
            // left in it.
            drop(lock);
            Ok(Unlocked::Free(recorded))
        }
        Err(StateError::Locked { holder, .. }) if force => {
            let info = store.force_unlock()?.or(holder.map(|h| *h));
            Ok(Unlocked::Forced(info))
        }
        Err(StateError::Locked { holder, .. }) => {
            let who = holder.map_or_else(
                || "a process that left no information".to_owned(),
                |h| h.to_string(),
            );
            Err(Error::Refusal(format!(
                "the state is locked by {who}, which still holds the lock; wait for it to finish \
                 (or stop it). If it is gone for good (a host that died, a file system that keeps \
                 the locks of dead processes), run `zsc state unlock --force`"
            )))
        }
        Err(e) => Err(e.into()),
    }
}
