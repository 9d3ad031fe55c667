//! Reading a tenant in full: users and groups with members, from the listings (see
//! `listing.rs`), made complete where a listing comes back short, with memberships from the
//! groups or from the users. Look-ups by id and by name are in `lookup.rs`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::model::{LiveGroup, LiveTenant, LiveUser};

use super::client::ScimClient;
use super::error::ScimError;
use super::listing::{ListedGroup, Listing, UserGroups, UserWithGroups, REFUSED_PARAMETER};
use super::wire::{WireGroup, WireUser};

impl ScimClient {
    /// Read every user and group of the tenant, with group members, and make sure the picture
    /// is complete for what matters: see [`Expected`]. The first read of a run asks the server
    /// what it supports first (see `discovery.rs`).
    pub async fn read_tenant(&self, expected: &Expected) -> Result<LiveTenant, ScimError> {
        Ok(self.read_tenant_counted(expected).await?.0)
    }

    /// [`Self::read_tenant`], and how many users and groups the server counted (each
    /// listing's `totalResults`): what a targeted refresh later compares its counts with.
    pub async fn read_tenant_counted(
        &self,
        expected: &Expected,
    ) -> Result<(LiveTenant, Totals), ScimError> {
        self.discover().await;
        if self.memberships_from_users() {
            return self.read_tenant_by_users(expected).await;
        }
        let ((users, user_total), (groups, group_total)) =
            tokio::try_join!(self.read_users(expected), self.read_groups(expected))?;
        Ok((
            LiveTenant { users, groups },
            Totals {
                users: user_total,
                groups: group_total,
            },
        ))
    }

    /// Whether memberships are read from users' `groups` (see [`Memberships`]).
    pub fn memberships_from_users(&self) -> bool {
        match self.inner.memberships {
            Memberships::FromGroups => false,
            Memberships::FromUsers => true,
            // Users' groups cost no request beyond the user listing zsc reads anyway; group
            // members cost one request per group where listings leave them out (ZPA).
            Memberships::Auto => !self.inner.spec.group_list_has_members,
        }
    }

    /// A full read with memberships taken from the user listing: users listed with their
    /// `groups`, groups listed without one more request each.
    async fn read_tenant_by_users(
        &self,
        expected: &Expected,
    ) -> Result<(LiveTenant, Totals), ScimError> {
        let (users, groups) = tokio::try_join!(
            self.read_users_with_groups(expected),
            self.read_groups_listed(expected)
        )?;
        let ((users, user_total), memberships) = users;
        let (mut groups, group_total) = groups;
        let mut by_group: HashMap<String, Vec<String>> = HashMap::new();
        for (user, groups) in memberships {
            for group in groups {
                by_group.entry(group).or_default().push(user.clone());
            }
        }
        for (group, members_listed) in &mut groups {
            if !*members_listed {
                group.members = by_group.remove(&group.id).unwrap_or_default();
            }
        }
        Ok((
            LiveTenant {
                users,
                groups: groups.into_iter().map(|(g, _)| g).collect(),
            },
            Totals {
                users: user_total,
                groups: group_total,
            },
        ))
    }

    /// Every user with the ids of its groups (no `excludedAttributes`), accounted for as
    /// [`Self::read_users`] does; users found by look-up are read once more by id for their
    /// groups.
    #[allow(clippy::type_complexity)]
    async fn read_users_with_groups(
        &self,
        expected: &Expected,
    ) -> Result<((Vec<LiveUser>, u64), Vec<(String, Vec<String>)>), ScimError> {
        let listing = self.list_complete::<UserGroups>("Users", "").await?;
        let (total, listed) = (listing.total, listing.items);
        let mut memberships = Vec::with_capacity(listed.len());
        let mut users = Vec::with_capacity(listed.len());
        for UserWithGroups { user, groups } in listed {
            memberships.push((user.id.clone(), groups));
            users.push(user);
        }
        if listing.shortfall > 0 {
            let found = self.account_for_users(expected, total, &users).await?;
            for user in found {
                let groups = self
                    .get_user_groups(&user.id)
                    .await?
                    .map(|u| u.groups)
                    .unwrap_or_default();
                memberships.push((user.id.clone(), groups));
                users.push(user);
            }
        }
        Ok(((users, total), memberships))
    }

    /// Every user, listed without their read-only `groups` where the server allows.
    pub(super) async fn list_users(&self) -> Result<Listing<LiveUser>, ScimError> {
        // Users' read-only `groups` repeat every membership (with a `$ref` URL each): as large
        // as the group listing itself. zsc reads memberships from the groups, so it asks the
        // server to leave them out (RFC 7644 §3.4.2.5), and reads them anyway from a server
        // that refuses the parameter.
        if !self.inner.exclude_groups.load(Ordering::Relaxed) {
            return self.list_complete::<WireUser>("Users", "").await;
        }
        let extra = format!("&{}=groups", self.inner.spec.exclude_param);
        match self.list_complete::<WireUser>("Users", &extra).await {
            Err(ScimError::Status { status, .. }) if REFUSED_PARAMETER.contains(&status) => {
                tracing::info!(
                    "Users: the server refused `{extra}` ({status}); listing without it"
                );
                self.inner.exclude_groups.store(false, Ordering::Relaxed);
                self.list_complete::<WireUser>("Users", "").await
            }
            listing => listing,
        }
    }

    async fn read_users(&self, expected: &Expected) -> Result<(Vec<LiveUser>, u64), ScimError> {
        let listing = self.list_users().await?;
        let (total, mut users) = (listing.total, listing.items);
        if listing.shortfall > 0 {
            let found = self.account_for_users(expected, total, &users).await?;
            users.extend(found);
        }
        Ok((users, total))
    }

    async fn account_for_users(
        &self,
        expected: &Expected,
        total: u64,
        users: &[LiveUser],
    ) -> Result<Vec<LiveUser>, ScimError> {
        self.account_for(
            "Users",
            total,
            users,
            &expected.users,
            &expected.user_ids,
            expected.accept_gap,
            |c, id| async move { c.get_user(&id).await },
            |c, name| async move { Ok(c.look_up_users_eq(&name).await?.unwrap_or_default()) },
        )
        .await
    }

    /// Every group with its members. Dialects whose listings omit members (ZPA) cost one more
    /// request per group.
    async fn read_groups(&self, expected: &Expected) -> Result<(Vec<LiveGroup>, u64), ScimError> {
        let listing = self.list_complete::<WireGroup>("Groups", "").await?;
        let total = listing.total;
        let shortfall = listing.shortfall;
        let mut groups = self.with_members(listing.items).await?;
        if shortfall > 0 {
            let found = self.account_for_groups(expected, total, &groups).await?;
            groups.extend(found);
        }
        Ok((groups, total))
    }

    /// Every group as listed, with whether the listing carried its members (found by
    /// look-up: read by id, so with members).
    async fn read_groups_listed(
        &self,
        expected: &Expected,
    ) -> Result<(Vec<(LiveGroup, bool)>, u64), ScimError> {
        let listing = self.list_complete::<WireGroup>("Groups", "").await?;
        let total = listing.total;
        let shortfall = listing.shortfall;
        let mut groups: Vec<(LiveGroup, bool)> = listing
            .items
            .into_iter()
            .map(|l| (l.group, l.members_listed))
            .collect();
        if shortfall > 0 {
            let listed: Vec<LiveGroup> = groups.iter().map(|(g, _)| g.clone()).collect();
            let found = self.account_for_groups(expected, total, &listed).await?;
            groups.extend(found.into_iter().map(|g| (g, true)));
        }
        Ok((groups, total))
    }

    async fn account_for_groups(
        &self,
        expected: &Expected,
        total: u64,
        groups: &[LiveGroup],
    ) -> Result<Vec<LiveGroup>, ScimError> {
        self.account_for(
            "Groups",
            total,
            groups,
            &expected.groups,
            &expected.group_ids,
            expected.accept_gap,
            |c, id| async move { c.get_group(&id).await },
            |c, name| async move { Ok(c.look_up_groups_eq(&name).await?.unwrap_or_default()) },
        )
        .await
    }

    /// Listed groups with their members: read one by one where the listing left them out.
    pub(super) async fn with_members(
        &self,
        listed: Vec<ListedGroup>,
    ) -> Result<Vec<LiveGroup>, ScimError> {
        let mut groups: Vec<LiveGroup> = Vec::with_capacity(listed.len());
        let mut need_members = Vec::new();
        for (i, listed) in listed.into_iter().enumerate() {
            if !listed.members_listed && !self.inner.spec.group_list_has_members {
                need_members.push((i, listed.group.id.clone()));
            }
            groups.push(listed.group);
        }
        if !need_members.is_empty() {
            let total = need_members.len();
            let read = Arc::new(AtomicUsize::new(0));
            let fetched = self
                .concurrently(need_members, move |client, (i, id)| {
                    let read = Arc::clone(&read);
                    async move {
                        let group = client.get_group(&id).await?;
                        let done = read.fetch_add(1, Ordering::Relaxed) + 1;
                        client.advance("group members", done, total);
                        Ok((i, group))
                    }
                })
                .await?;
            for (i, g) in fetched {
                if let Some(g) = g {
                    groups[i].members = g.members;
                }
            }
        }
        Ok(groups)
    }
}

/// What a refresh must account for in a tenant: the objects state manages (by id) and the
/// names the configuration declares. If a listing comes back short, each of these that it did
/// not return is read by id or looked up by name, so that no plan creates an object the
/// listing skipped (see [`ScimClient::read_tenant`]).
#[derive(Clone, Debug, Default)]
pub struct Expected {
    pub users: Vec<String>,
    pub groups: Vec<String>,
    pub user_ids: Vec<String>,
    pub group_ids: Vec<String>,
    /// Go on when a listing stays short and a name is not found (`--accept-listing-gap`): for
    /// a server whose count is simply wrong.
    pub accept_gap: bool,
}

/// What a full read counted: each listing's `totalResults`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub users: u64,
    pub groups: u64,
}

/// Where a refresh reads group memberships from (a tenant's `membership_source`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Memberships {
    /// Each group's `members`: from the group listing, or one read per group where listings
    /// leave them out (ZPA).
    #[default]
    FromGroups,
    /// Each user's read-only `groups`, from the user listing (read without
    /// `excludedAttributes=groups`).
    FromUsers,
    /// Users' groups where group listings leave members out, groups' members elsewhere.
    Auto,
}
