//! `zsc state list|show|rm|unlock`: read and edit what zsc manages. None of these contacts a
//! tenant; `rm` changes only the state file, under the state lock.

use crate::model::folded;
use crate::plan::Address;
use crate::render;
use crate::state::{State, StateError, StateOp, StateStore};

use super::args::{Cli, StateCommand};
use super::commands::{load_config, state_store};
use super::output::Output;
use super::{ExitStatus, Failure};

pub fn dispatch(cli: &Cli, out: Output, command: &StateCommand) -> Result<ExitStatus, Failure> {
    let config = load_config(cli, out)?;
    let store = state_store(cli, &config);
    match command {
        StateCommand::List => {
            out.print(&render::state::list(&store.load()?.state));
            Ok(ExitStatus::Success)
        }
        StateCommand::Show { address } => show(&store, out, address),
        StateCommand::Rm { addresses } => rm(&store, out, addresses),
        StateCommand::Unlock { force } => unlock(&store, out, *force),
    }
}

fn show(store: &StateStore, out: Output, address: &str) -> Result<ExitStatus, Failure> {
    let address = Address::parse(address)?;
    let state = store.load()?.state;
    let tenant = state.tenants.get(address.tenant());
    let text = match (&address, tenant) {
        (Address::User { user_name, .. }, Some(t)) => t
            .users
            .get(folded(user_name).as_ref())
            .map(|u| render::state::user(address.tenant(), u)),
        (Address::Group { name, .. }, Some(t)) => t
            .groups
            .get(folded(name).as_ref())
            .map(|g| render::state::group(address.tenant(), g, t)),
        (Address::User { .. } | Address::Group { .. }, None) => None,
        (Address::Tenant(_) | Address::Membership { .. }, _) => {
            return Err(Failure(format!(
                "`zsc state show` takes a user or group address, not `{address}`"
            )))
        }
    };
    let text = text.ok_or_else(|| not_managed(&address, store))?;
    out.print(&text);
    Ok(ExitStatus::Success)
}

fn not_managed(address: &Address, store: &StateStore) -> Failure {
    Failure(format!(
        "`{address}` is not managed: `{}` holds no such object (see `zsc state list`)",
        store.path().display()
    ))
}

/// Remove users and groups from state. All or nothing: every address must name a managed
/// object, or nothing is saved.
fn rm(store: &StateStore, out: Output, addresses: &[String]) -> Result<ExitStatus, Failure> {
    let mut parsed = Vec::with_capacity(addresses.len());
    for a in addresses {
        parsed.push(Address::parse(a)?);
    }
    let _lock = store.lock("state rm")?;
    let loaded = store.load()?;
    if !loaded.existed && loaded.replayed == 0 {
        return Err(Failure(format!(
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
    state.serial += 1;
    store.save(&state)?;
    let mut text = String::new();
    for r in &removed {
        text.push_str(&format!("Removed {r}\n"));
    }
    out.print(&text);
    out.info(&format!(
        "{} no longer managed by zsc; the tenant was not changed. Remove them from the \
         configuration too, or the next plan adopts them again.",
        render::count(removed.len(), "object is", "objects are")
    ));
    Ok(ExitStatus::Success)
}

/// The state ops that stop managing what `address` names, with each object's address; `None`
/// when it names nothing managed. A removed group takes its member list with it; a removed
/// user's id stays in the member lists of managed groups (the membership is still wanted there).
fn removal(state: &State, address: &Address) -> Option<Vec<(String, StateOp, String)>> {
    use crate::plan::change::{group_address, user_address};
    let tenant = address.tenant();
    let t = state.tenants.get(tenant)?;
    let user_op = |u: &crate::state::ManagedUser| {
        (
            tenant.to_owned(),
            StateOp::RemoveUser {
                user_name: u.user_name.clone(),
            },
            user_address(tenant, &u.user_name),
        )
    };
    let group_op = |g: &crate::state::ManagedGroup| {
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

/// Show who holds the lock; release it when its holder is gone, or with `--force` regardless.
fn unlock(store: &StateStore, out: Output, force: bool) -> Result<ExitStatus, Failure> {
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
            match recorded {
                Some(info) => out.print(&format!(
                    "Released the lock left by {info}, which no longer holds it.\n"
                )),
                None => out.print("The state is not locked.\n"),
            }
            Ok(ExitStatus::Success)
        }
        Err(StateError::Locked { holder, .. }) if force => {
            let info = store.force_unlock()?.or(holder.map(|h| *h));
            match info {
                Some(info) => out.print(&format!("Force-released the lock held by {info}.\n")),
                None => out.print("Force-released the lock (its holder left no information).\n"),
            }
            out.warn(
                "if that process is still running, it can still write the state: stop it first",
            );
            Ok(ExitStatus::Success)
        }
        Err(StateError::Locked { holder, .. }) => {
            let who = holder.map_or_else(
                || "a process that left no information".to_owned(),
                |h| h.to_string(),
            );
            Err(Failure(format!(
                "the state is locked by {who}, which still holds the lock; wait for it to finish \
                 (or stop it). If it is gone for good (a host that died, a file system that keeps \
                 the locks of dead processes), run `zsc state unlock --force`"
            )))
        }
        Err(e) => Err(e.into()),
    }
}
