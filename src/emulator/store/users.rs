//! User writes: create, replace, patch, delete, and the checks they share (userName present,
//! unique, in a registered domain). ZPA's "`active: false` deletes" happens here.

use crate::model::name_key;
use crate::scim::wire::{PatchOperation, WireEnterprise, WireUser, ENTERPRISE_SCHEMA, USER_SCHEMA};

use super::ids::{new_meta, now_rfc3339};
use super::{Extras, Key, Store, UserRec, UserWrite};
use crate::emulator::error::ApiError;
use crate::emulator::patch::{apply_user_patch, removed_paths};

impl Store {
    /// POST: `extras` are the attributes sent that the store does not model.
    pub fn create_user(
        &mut self,
        input: WireUser,
        extras: Option<Extras>,
    ) -> Result<Key, ApiError> {
        let mut user = normalize_user(input);
        self.check_user(&user, None)?;
        user.id = Some(self.new_id());
        user.meta = Some(new_meta("User"));
        let key = self.insert_user(user, extras.and_then(Extras::stored))?;
        self.version += 1;
        self.log_user(key);
        Ok(key)
    }

    /// PUT: replace every modelled attribute (RFC 7644 §3.5.1); id and `meta.created` stay.
    /// Unmodelled ones the PUT omits stay too, unless `put_clears_omitted`.
    pub fn replace_user(
        &mut self,
        id: &str,
        input: WireUser,
        extras: Option<Extras>,
    ) -> Result<UserWrite, ApiError> {
        let key = self.user_key(id)?;
        let old = self.user(key).and_then(|rec| rec.extras.as_deref());
        let extras = self.extras_after_put(old, extras);
        self.commit_user(key, normalize_user(input), extras)
    }

    /// PATCH: unmodelled attributes stay, unless an operation removes their container.
    pub fn patch_user(&mut self, id: &str, ops: &[PatchOperation]) -> Result<UserWrite, ApiError> {
        let key = self.user_key(id)?;
        let rec = self.user(key).ok_or_else(|| self.lost(id))?;
        let mut user = rec.user().clone();
        let mut extras = rec.extras.clone();
        apply_user_patch(&mut user, ops, self.rules.switches.pathless_replace())?;
        if let Some(kept) = &mut extras {
            removed_paths(ops).for_each(|path| kept.forget(path));
        }
        self.commit_user(key, normalize_user(user), extras.and_then(|e| e.stored()))
    }

    fn commit_user(
        &mut self,
        key: Key,
        mut user: WireUser,
        extras: Option<Box<Extras>>,
    ) -> Result<UserWrite, ApiError> {
        self.check_user(&user, Some(key))?;
        let rec = self
            .users
            .get_mut(key as usize)
            .and_then(Option::as_mut)
            .ok_or_else(|| ApiError::internal("user vanished during a write"))?;
        let old_name = name_key(&rec.user().user_name);
        user.id = rec.user().id.clone();
        let mut meta = rec.user().meta.clone().unwrap_or_else(|| new_meta("User"));
        meta.last_modified = Some(now_rfc3339());
        user.meta = Some(meta);
        let new_name = name_key(&user.user_name);
        rec.set_user(user);
        rec.extras = extras;
        if old_name != new_name {
            self.user_by_name.remove(&old_name, key);
            self.user_by_name.insert(new_name, key);
        }
        self.version += 1;
        let deactivated = self
            .user(key)
            .is_some_and(|rec| rec.user().active == Some(false));
        if self.rules.spec.deactivate_deletes && deactivated {
            let rec = self.remove_user(key)?;
            self.log_user_deleted(rec.id());
            return Ok(UserWrite::Deleted(Box::new(rec)));
        }
        self.log_user(key);
        Ok(UserWrite::Stored(key))
    }

    /// DELETE. The user also leaves every group it was in, in every dialect: Zscaler documents
    /// nothing else and a member that refers to no user would be a dangling reference. (A sloppy
    /// generic server may leave it; seed such data with `replace_data` to test a client for it.)
    pub fn delete_user(&mut self, id: &str) -> Result<(), ApiError> {
        let key = self.user_key(id)?;
        let name = self
            .user(key)
            .map(|rec| name_key(&rec.user().user_name))
            .unwrap_or_default();
        if self.rules.admin_users.contains(&name) {
            // ZIA under the default admin setting ("Do Nothing").
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                None,
                "Admin user cannot be deleted",
            ));
        }
        let rec = self.remove_user(key)?;
        self.version += 1;
        self.log_user_deleted(rec.id());
        Ok(())
    }

    pub(super) fn remove_user(&mut self, key: Key) -> Result<UserRec, ApiError> {
        let mut rec = self
            .users
            .get_mut(key as usize)
            .and_then(Option::take)
            .ok_or_else(|| ApiError::internal("user vanished during a delete"))?;
        for group in std::mem::take(&mut rec.groups) {
            if let Some(g) = self.groups.get_mut(group as usize).and_then(Option::as_mut) {
                g.members.remove(&key);
            }
        }
        self.user_by_id.remove(rec.id());
        self.user_by_name
            .remove(&name_key(&rec.user().user_name), key);
        self.user_order.take();
        Ok(rec)
    }

    fn check_user(&self, user: &WireUser, this: Option<Key>) -> Result<(), ApiError> {
        if user.user_name.trim().is_empty() {
            return Err(ApiError::invalid_value("userName is required"));
        }
        if !self.rules.domains.is_empty() {
            let domain = user
                .user_name
                .rsplit_once('@')
                .map(|(_, d)| d.to_lowercase());
            if !domain
                .as_ref()
                .is_some_and(|d| self.rules.domains.contains(d))
            {
                return Err(ApiError::invalid_value(format!(
                    "the domain of userName `{}` is not registered to this tenant (registered: {})",
                    user.user_name,
                    self.rules.domains.join(", ")
                )));
            }
        }
        if self.user_name_taken(&user.user_name, this) {
            return Err(ApiError::uniqueness(format!(
                "a user with userName `{}` already exists",
                user.user_name
            )));
        }
        Ok(())
    }

    pub(super) fn insert_user(
        &mut self,
        user: WireUser,
        extras: Option<Box<Extras>>,
    ) -> Result<Key, ApiError> {
        let key = Key::try_from(self.users.len())
            .map_err(|_| ApiError::internal("the emulator is full"))?;
        self.user_by_id
            .insert(user.id.clone().unwrap_or_default(), key);
        self.user_by_name.insert(name_key(&user.user_name), key);
        if let Some(order) = self.user_order.get_mut() {
            order.push(key);
        }
        self.users.push(Some(UserRec::new(user, extras)));
        Ok(key)
    }
}

/// The canonical stored form of a user as sent: department only in the enterprise extension
/// (ZIA's top-level copy is added on output), no `groups` (read-only, RFC 7643 §4.1.2; ZPA
/// documents ignoring them), `active` defaulting to true. Leaves `id` and `meta` alone.
pub(super) fn normalize_user(mut user: WireUser) -> WireUser {
    let top_level = user.department.take();
    let mut enterprise = user.enterprise.take().unwrap_or_default();
    if enterprise.department.is_none() {
        enterprise.department = top_level;
    }
    user.enterprise = (enterprise != WireEnterprise::default()).then_some(enterprise);
    user.groups.clear();
    user.active.get_or_insert(true);
    if user
        .name
        .as_ref()
        .is_some_and(|n| n.given_name.is_none() && n.family_name.is_none() && n.formatted.is_none())
    {
        user.name = None;
    }
    user.schemas = vec![USER_SCHEMA.to_owned()];
    if user.enterprise.is_some() {
        user.schemas.push(ENTERPRISE_SCHEMA.to_owned());
    }
    user
}
