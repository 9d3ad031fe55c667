//! Writing: creating, updating, renaming and deleting users and groups, and changing members.
//!
//! What a write may change is only what zsc manages. A PATCH names each attribute it changes by
//! its path (RFC 7644 §3.5.2), and a multi-valued one (`emails`) is sent whole, as the server
//! holds it with only the managed value changed. Without PATCH (the server says so), an update
//! reads the resource and PUTs back the server's own representation with only the managed
//! fields changed, so that attributes zsc does not declare (title, phone numbers, a manager,
//! another email) survive every update on every server.
//!
//! A create that meets "already exists" (409), or whose answer was lost, looks the object up
//! before anything else, so nothing is created twice; what it finds is adopted, and the caller
//! brings it to the planned values.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::model::{LiveGroup, LiveUser, UserAttrs, USER_FIELDS};

use super::bodies::{
    emails_of, group_put_body, replace, user_patch_ops, user_put_body, wire_members,
};
use super::client::{Repeat, ScimClient};
use super::error::ScimError;
use super::transport::{path_segment, protocol};
use super::wire::{PatchRequest, WireGroup, WireUser, GROUP_SCHEMA};

/// A created object, and whether it already existed (the create met "already exists", or a
/// retried create found the first attempt had landed) and was adopted instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created<T> {
    pub value: T,
    pub adopted: bool,
}

/// The outcome of a delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gone {
    Deleted,
    /// The server answered 404: someone (or an earlier attempt) deleted it already.
    AlreadyGone,
}

/// A member reference to send: the user's id and userName.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRef {
    pub id: String,
    pub user_name: String,
}

/// A change to a user: a new userName, `active`, and its managed attributes from `before` (as
/// planned) to `after`. Only what differs is sent.
#[derive(Clone, Copy, Debug)]
pub struct UserUpdate<'a> {
    pub user_name: Option<&'a str>,
    pub before: &'a UserAttrs,
    pub after: &'a UserAttrs,
    pub active: Option<bool>,
}

impl UserUpdate<'_> {
    /// The names of what this update writes (`user_name`, `active`, attribute names).
    pub fn fields(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.user_name.is_some() {
            out.push("user_name".to_owned());
        }
        if self.active.is_some() {
            out.push("active".to_owned());
        }
        for f in USER_FIELDS {
            if (f.get)(self.before) != (f.get)(self.after) {
                out.push(f.name.to_owned());
            }
        }
        out
    }

    fn is_empty(&self) -> bool {
        self.fields().is_empty()
    }

    fn email_changes(&self) -> bool {
        self.before.email != self.after.email
    }
}

/// How far a batched member change got: per requested add and removal, in order, done or the
/// error that stopped it (each member's own, where the server said which).
#[derive(Debug, Default)]
pub struct MembersPatched {
    pub adds: Vec<Result<(), String>>,
    pub removes: Vec<Result<(), String>>,
    pub requests: usize,
}

impl MembersPatched {
    /// The first error, if any change failed.
    pub fn error(&self) -> Option<&str> {
        self.adds
            .iter()
            .chain(&self.removes)
            .find_map(|r| r.as_ref().err().map(String::as_str))
    }
}

/// One member change of a batch.
enum MemberOp<'a> {
    Add(&'a MemberRef),
    Remove(&'a str),
}

impl ScimClient {
    fn user_body(&self, user_name: &str, active: bool, attrs: &UserAttrs) -> Value {
        let wire = WireUser::from_model(user_name, active, attrs, self.spec().department_top_level);
        serde_json::to_value(wire).unwrap_or(Value::Null)
    }

    /// Create a user, or adopt it if it turns out to exist already (the caller brings an
    /// adopted user to the planned values). Empty values in `attrs` are not sent.
    pub async fn create_user(
        &self,
        user_name: &str,
        active: bool,
        attrs: &UserAttrs,
    ) -> Result<Created<LiveUser>, ScimError> {
        let body = self.user_body(user_name, active, attrs);
        let max = self.inner.backoff.max_attempts;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .send(
                    Method::POST,
                    "/Users",
                    Some(&body),
                    Repeat::OnlyIfNotReceived,
                )
                .await
            {
                Ok(answer) => {
                    if answer.body.iter().all(u8::is_ascii_whitespace) {
                        // Created without a body: read it back to learn its id.
                        return match self.find_existing_user(user_name).await? {
                            Some(user) => Ok(Created {
                                value: user,
                                adopted: false,
                            }),
                            None => Err(protocol(
                                "POST",
                                "/Users",
                                format!("created `{user_name}` but it cannot be found afterwards"),
                            )),
                        };
                    }
                    let wire: WireUser = self.parse("POST", "/Users", &answer)?;
                    let value = wire
                        .into_live()
                        .map_err(|m| protocol("POST", "/Users", m))?;
                    return Ok(Created {
                        value,
                        adopted: false,
                    });
                }
                Err(e) if e.is_conflict() || (e.is_transient() && attempt < max) => {
                    // It exists (409), or it may exist (the answer was lost): look before
                    // sending again, so nothing is created twice.
                    if let Some(user) = self.find_existing_user(user_name).await? {
                        return Ok(Created {
                            value: user,
                            adopted: true,
                        });
                    }
                    if e.is_conflict() {
                        return Err(e);
                    }
                    let delay = self.inner.backoff.delay(attempt, None);
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The one user named `user_name`, for a create that may have met it. Two are an
    /// ambiguity: neither is adopted.
    async fn find_existing_user(&self, user_name: &str) -> Result<Option<LiveUser>, ScimError> {
        let mut found = self.look_up_users(user_name).await?;
        match found.len() {
            0 | 1 => Ok(found.pop()),
            n => Err(ambiguous(
                "user",
                user_name,
                found.iter().map(|u| u.id.as_str()),
                n,
            )),
        }
    }

    /// The one group named `name`, with its members (see [`Self::find_existing_user`]).
    async fn find_existing_group(&self, name: &str) -> Result<Option<LiveGroup>, ScimError> {
        let mut found = self.look_up_groups(name).await?;
        match found.len() {
            0 | 1 => Ok(found.pop()),
            n => Err(ambiguous(
                "group",
                name,
                found.iter().map(|g| g.id.as_str()),
                n,
            )),
        }
    }

    /// Change a user's userName, attributes and/or `active`, sending only what differs.
    pub async fn update_user(&self, id: &str, update: &UserUpdate<'_>) -> Result<(), ScimError> {
        if update.is_empty() {
            return Ok(());
        }
        let path = format!("/Users/{}", path_segment(id));
        if !self.can_patch().await {
            return self.replace_user(&path, update).await;
        }
        // `emails` is multi-valued: it is sent whole, so the server's other emails are read
        // first and kept.
        let current_emails = if update.email_changes() {
            let current: Value = self.get(&path).await?;
            emails_of(&current)
        } else {
            Vec::new()
        };
        let ops = user_patch_ops(update, &current_emails, self.spec().department_top_level);
        let body = serde_json::to_value(PatchRequest::new(ops)).unwrap_or(Value::Null);
        self.send(Method::PATCH, &path, Some(&body), Repeat::Idempotent)
            .await
            .map(drop)
    }

    /// Update a user without PATCH: read its current representation, change only the managed
    /// fields, leave out what is read-only, and PUT that.
    async fn replace_user(&self, path: &str, update: &UserUpdate<'_>) -> Result<(), ScimError> {
        let current: Value = self.get(path).await?;
        let body = user_put_body(current, update, self.spec().department_top_level);
        self.send(Method::PUT, path, Some(&body), Repeat::Idempotent)
            .await
            .map(drop)
    }

    pub async fn delete_user(&self, id: &str) -> Result<Gone, ScimError> {
        self.delete(&format!("/Users/{}", path_segment(id))).await
    }

    pub async fn delete_group(&self, id: &str) -> Result<Gone, ScimError> {
        self.delete(&format!("/Groups/{}", path_segment(id))).await
    }

    async fn delete(&self, path: &str) -> Result<Gone, ScimError> {
        match self
            .send(Method::DELETE, path, None, Repeat::Idempotent)
            .await
        {
            Ok(_) => Ok(Gone::Deleted),
            Err(e) if e.is_not_found() => Ok(Gone::AlreadyGone),
            Err(e) => Err(e),
        }
    }

    /// Create a group with its members inline (one request), or adopt it if it exists. Either
    /// way the group ends with exactly `members`: an adopted group's other members are removed
    /// (memberships are authoritative). `look_up_first`: look the name up before creating (one
    /// more request), for a server that would accept a second group of the name.
    pub async fn create_group(
        &self,
        name: &str,
        members: &[MemberRef],
        look_up_first: bool,
    ) -> Result<Created<LiveGroup>, ScimError> {
        let existing = if look_up_first {
            self.find_existing_group(name).await?
        } else {
            None
        };
        let created = match existing {
            Some(group) => Created {
                value: group,
                adopted: true,
            },
            None => self.post_group(name, members).await?,
        };
        self.complete_members(name, created, members).await
    }

    /// `POST /Groups`, or the group a lost or refused create turns out to have made.
    async fn post_group(
        &self,
        name: &str,
        members: &[MemberRef],
    ) -> Result<Created<LiveGroup>, ScimError> {
        let inline = self.spec().create_group_with_members;
        let body = json!({
            "schemas": [GROUP_SCHEMA],
            "displayName": name,
            "members": if inline { wire_members(members) } else { Vec::new() },
        });
        let max = self.inner.backoff.max_attempts;
        let mut attempt = 0;
        let created = loop {
            attempt += 1;
            match self
                .send(
                    Method::POST,
                    "/Groups",
                    Some(&body),
                    Repeat::OnlyIfNotReceived,
                )
                .await
            {
                Ok(answer) if !answer.body.iter().all(u8::is_ascii_whitespace) => {
                    let wire: WireGroup = self.parse("POST", "/Groups", &answer)?;
                    let mut group = wire
                        .into_live()
                        .map_err(|m| protocol("POST", "/Groups", m))?;
                    if group.members.is_empty() && inline {
                        group.members = members.iter().map(|m| m.id.clone()).collect();
                    }
                    break Created {
                        value: group,
                        adopted: false,
                    };
                }
                Ok(_) => match self.find_existing_group(name).await? {
                    Some(group) => {
                        break Created {
                            value: group,
                            adopted: false,
                        }
                    }
                    None => {
                        return Err(protocol(
                            "POST",
                            "/Groups",
                            format!("created `{name}` but it cannot be found afterwards"),
                        ))
                    }
                },
                Err(e) if e.is_conflict() || (e.is_transient() && attempt < max) => {
                    if let Some(group) = self.find_existing_group(name).await? {
                        break Created {
                            value: group,
                            adopted: true,
                        };
                    }
                    if e.is_conflict() {
                        return Err(e);
                    }
                    tokio::time::sleep(self.inner.backoff.delay(attempt, None)).await;
                }
                Err(e) => return Err(e),
            }
        };
        Ok(created)
    }

    /// Members the create did not carry (an adopted group, or a dialect that refuses them
    /// inline) go in by PATCH; an adopted group's other members go out.
    async fn complete_members(
        &self,
        name: &str,
        created: Created<LiveGroup>,
        members: &[MemberRef],
    ) -> Result<Created<LiveGroup>, ScimError> {
        let have: HashSet<&str> = created.value.members.iter().map(String::as_str).collect();
        let missing: Vec<MemberRef> = members
            .iter()
            .filter(|m| !have.contains(m.id.as_str()))
            .cloned()
            .collect();
        let wanted: HashSet<&str> = members.iter().map(|m| m.id.as_str()).collect();
        let extra: Vec<String> = if created.adopted {
            created
                .value
                .members
                .iter()
                .filter(|id| !wanted.contains(id.as_str()))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        if missing.is_empty() && extra.is_empty() {
            return Ok(created);
        }
        let patched = self
            .patch_members(&created.value.id, &missing, &extra)
            .await;
        if let Some(e) = patched.error() {
            return Err(protocol(
                "PATCH",
                &format!("/Groups/{}", path_segment(&created.value.id)),
                format!(
                    "group `{name}` (id `{}`) {} but its members could not be set: {e}",
                    created.value.id,
                    if created.adopted {
                        "existed already and was adopted,"
                    } else {
                        "was created"
                    }
                ),
            ));
        }
        let mut created = created;
        created.value.members.retain(|id| !extra.contains(id));
        created
            .value
            .members
            .extend(missing.into_iter().map(|m| m.id));
        Ok(created)
    }

    pub async fn rename_group(&self, id: &str, name: &str) -> Result<(), ScimError> {
        if !self.can_patch().await {
            return self.replace_group(id, Some(name), &[], &[]).await;
        }
        let path = format!("/Groups/{}", path_segment(id));
        let body =
            serde_json::to_value(PatchRequest::new(vec![replace("displayName", json!(name))]))
                .unwrap_or(Value::Null);
        self.send(Method::PATCH, &path, Some(&body), Repeat::Idempotent)
            .await
            .map(drop)
    }

    /// Add and remove members with as few PATCH requests as the dialect's batch size allows
    /// (adds first, then removals, each request full up to the batch size). A batch the server
    /// refuses (a 4xx) is sent again one member at a time, so that each member gets its own
    /// outcome; a failure that is not about the request (5xx, transport) stops the rest, which
    /// are reported with it.
    pub async fn patch_members(
        &self,
        group_id: &str,
        add: &[MemberRef],
        remove: &[String],
    ) -> MembersPatched {
        let mut done = MembersPatched::default();
        if !self.can_patch().await {
            let outcome = self
                .replace_group(group_id, None, add, remove)
                .await
                .map_err(|e| e.to_string());
            done.adds = vec![outcome.clone(); add.len()];
            done.removes = vec![outcome; remove.len()];
            done.requests = 2;
            return done;
        }
        let batch = self.spec().member_patch_batch.max(1);
        let ops: Vec<MemberOp<'_>> = add
            .iter()
            .map(MemberOp::Add)
            .chain(remove.iter().map(|id| MemberOp::Remove(id)))
            .collect();
        let mut outcomes: Vec<Result<(), String>> = Vec::with_capacity(ops.len());
        for chunk in ops.chunks(batch) {
            match self.send_member_ops(group_id, chunk).await {
                Ok(()) => {
                    done.requests += 1;
                    outcomes.extend(chunk.iter().map(|_| Ok(())));
                }
                Err(e) if chunk.len() > 1 && is_refusal(&e) => {
                    // Which member did the server refuse? Ask one at a time.
                    done.requests += 1;
                    for op in chunk {
                        done.requests += 1;
                        let one = self
                            .send_member_ops(group_id, std::slice::from_ref(op))
                            .await
                            .map_err(|e| e.to_string());
                        outcomes.push(one);
                    }
                }
                Err(e) => {
                    done.requests += 1;
                    let message = e.to_string();
                    outcomes.extend(chunk.iter().map(|_| Err(message.clone())));
                    // Nothing after a failure that is not about these members is sent.
                    let sent = outcomes.len();
                    let rest = ops.len() - sent;
                    outcomes.extend(std::iter::repeat_n(
                        Err(format!("not sent after an earlier batch failed: {message}")),
                        rest,
                    ));
                    break;
                }
            }
        }
        done.removes = outcomes.split_off(add.len());
        done.adds = outcomes;
        done
    }

    async fn send_member_ops(&self, group_id: &str, ops: &[MemberOp<'_>]) -> Result<(), ScimError> {
        let adds: Vec<MemberRef> = ops
            .iter()
            .filter_map(|op| match op {
                MemberOp::Add(m) => Some((*m).clone()),
                MemberOp::Remove(_) => None,
            })
            .collect();
        let mut patch = Vec::with_capacity(ops.len());
        if !adds.is_empty() {
            patch.push(PatchRequest::add_members(&wire_members(&adds)));
        }
        patch.extend(ops.iter().filter_map(|op| match op {
            MemberOp::Remove(id) => Some(PatchRequest::remove_member(id)),
            MemberOp::Add(_) => None,
        }));
        let path = format!("/Groups/{}", path_segment(group_id));
        let body = serde_json::to_value(PatchRequest::new(patch)).unwrap_or(Value::Null);
        self.send(Method::PATCH, &path, Some(&body), Repeat::Idempotent)
            .await
            .map(drop)
    }

    /// Rename and/or change members without PATCH: read the group, then PUT back the server's
    /// own representation with only the name and members changed.
    pub(super) async fn replace_group(
        &self,
        id: &str,
        name: Option<&str>,
        add: &[MemberRef],
        remove: &[String],
    ) -> Result<(), ScimError> {
        let path = format!("/Groups/{}", path_segment(id));
        // Read as JSON, not as a WireGroup: everything the server holds goes back exactly as
        // it gave it (members with their `display` and `$ref`, `externalId`, extensions).
        let current: Value = self.get(&path).await?;
        let body = group_put_body(current, id, name, add, remove);
        self.send(Method::PUT, &path, Some(&body), Repeat::Idempotent)
            .await
            .map(drop)
    }
}

/// A 4xx other than 429: the server refused this request as it is, so sending the same
/// members again one by one tells which it refused.
fn is_refusal(e: &ScimError) -> bool {
    matches!(e.status(), Some(s) if (400..500).contains(&s) && s != 429 && s != 408)
}

fn ambiguous<'a>(
    kind: &str,
    name: &str,
    ids: impl Iterator<Item = &'a str>,
    n: usize,
) -> ScimError {
    let ids: Vec<String> = ids.map(|id| format!("`{id}`")).collect();
    ScimError::Setup(format!(
        "ambiguous: {n} live {kind}s share the name `{name}` (ids {}); zsc adopts neither: rename or delete \
         all but one on the server",
        ids.join(", ")
    ))
}
