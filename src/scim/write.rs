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
use serde_json::{json, Map, Value};

use crate::model::{LiveGroup, LiveUser, UserAttrs, USER_FIELDS};

use super::client::{path_segment, protocol, Repeat, ScimClient};
use super::error::ScimError;
use super::wire::{
    PatchOperation, PatchRequest, WireGroup, WireMember, WireUser, ENTERPRISE_SCHEMA, GROUP_SCHEMA,
    USER_SCHEMA,
};

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
    /// (memberships are authoritative).
    pub async fn create_group(
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
        // Members the create did not carry (an adopted group, or a dialect that refuses them
        // inline) go in by PATCH; an adopted group's other members go out.
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

pub(super) fn wire_members(members: &[MemberRef]) -> Vec<WireMember> {
    members
        .iter()
        .map(|m| WireMember {
            value: m.id.clone(),
            display: Some(m.user_name.clone()),
            reference: None,
        })
        .collect()
}

fn replace(path: &str, value: Value) -> PatchOperation {
    PatchOperation {
        op: "replace".to_owned(),
        path: Some(path.to_owned()),
        value: Some(value),
    }
}

fn remove(path: &str) -> PatchOperation {
    PatchOperation {
        op: "remove".to_owned(),
        path: Some(path.to_owned()),
        value: None,
    }
}

/// The SCIM path of each managed attribute (the enterprise extension's, for `department`).
fn attribute_path(field: &str) -> String {
    match field {
        "display_name" => "displayName".to_owned(),
        "given_name" => "name.givenName".to_owned(),
        "family_name" => "name.familyName".to_owned(),
        "external_id" => "externalId".to_owned(),
        "department" => format!("{ENTERPRISE_SCHEMA}:department"),
        "email" => "emails".to_owned(),
        other => other.to_owned(),
    }
}

/// The PATCH operations for `update`, one per changed attribute, each by its path.
/// `current_emails` is the user's `emails` as the server holds them (read only when the email
/// changes): the list is sent whole, with only the primary (or work) address changed.
fn user_patch_ops(
    update: &UserUpdate<'_>,
    current_emails: &[Value],
    department_top_level: bool,
) -> Vec<PatchOperation> {
    let mut ops = Vec::new();
    if let Some(name) = update.user_name {
        ops.push(replace("userName", json!(name)));
    }
    if let Some(active) = update.active {
        ops.push(replace("active", Value::Bool(active)));
    }
    for f in USER_FIELDS {
        let (before, after) = ((f.get)(update.before), (f.get)(update.after));
        if before == after {
            continue;
        }
        let path = attribute_path(f.name);
        if f.name == "email" {
            let emails = emails_after(current_emails, after.as_deref());
            ops.push(if emails.is_empty() {
                remove(&path)
            } else {
                replace(&path, Value::Array(emails))
            });
            continue;
        }
        match after {
            Some(v) => ops.push(replace(&path, json!(v))),
            None => ops.push(remove(&path)),
        }
        if f.name == "department" && department_top_level {
            match after {
                Some(v) => ops.push(replace("department", json!(v))),
                None => ops.push(remove("department")),
            }
        }
    }
    ops
}

/// `emails` of a resource as the server wrote them.
fn emails_of(resource: &Value) -> Vec<Value> {
    resource
        .get("emails")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Which email zsc manages, by the rule [`WireUser::into_attrs`] reads it with.
fn managed_email(emails: &[Value]) -> Option<usize> {
    let flag = |e: &Value| match e.get("primary") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    super::wire::managed_email(
        emails
            .iter()
            .map(|e| (flag(e), e.get("type").and_then(Value::as_str))),
    )
}

/// The user's emails after zsc's email becomes `new`: the others kept as they are; with no
/// emails yet, one primary work address.
fn emails_after(current: &[Value], new: Option<&str>) -> Vec<Value> {
    let mut emails = current.to_vec();
    match (managed_email(&emails), new) {
        (Some(i), Some(v)) => {
            if let Some(object) = emails[i].as_object_mut() {
                object.insert("value".into(), json!(v));
            }
        }
        (Some(i), None) => {
            emails.remove(i);
        }
        (None, Some(v)) => emails.push(json!({ "value": v, "primary": true, "type": "work" })),
        (None, None) => {}
    }
    emails
}

/// The PUT body for `update`: the server's `current` representation with only the managed
/// fields changed and the read-only ones (`meta`, `groups`) left out.
fn user_put_body(current: Value, update: &UserUpdate<'_>, department_top_level: bool) -> Value {
    let mut user = match current {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    user.remove("meta");
    user.remove("groups");
    ensure_schema(&mut user, USER_SCHEMA);
    if let Some(name) = update.user_name {
        user.insert("userName".into(), json!(name));
    }
    if let Some(active) = update.active {
        user.insert("active".into(), Value::Bool(active));
    }
    for f in USER_FIELDS {
        let (before, after) = ((f.get)(update.before), (f.get)(update.after));
        if before == after {
            continue;
        }
        let value = after.as_deref().map(|v| json!(v));
        match f.name {
            "display_name" => set(&mut user, "displayName", value),
            "external_id" => set(&mut user, "externalId", value),
            "given_name" => set_in(&mut user, "name", "givenName", value),
            "family_name" => set_in(&mut user, "name", "familyName", value),
            "email" => {
                let emails =
                    emails_after(&emails_of(&Value::Object(user.clone())), after.as_deref());
                set(
                    &mut user,
                    "emails",
                    (!emails.is_empty()).then_some(Value::Array(emails)),
                );
            }
            "department" => {
                set_in(&mut user, ENTERPRISE_SCHEMA, "department", value.clone());
                if user.contains_key(ENTERPRISE_SCHEMA) {
                    ensure_schema(&mut user, ENTERPRISE_SCHEMA);
                }
                if department_top_level {
                    set(&mut user, "department", value);
                }
            }
            _ => {}
        }
    }
    Value::Object(user)
}

/// The PUT body for a group: the server's `current` representation, renamed to `name` if
/// given, with `remove` taken out of its members and `add` put in; `meta` left out.
fn group_put_body(
    current: Value,
    id: &str,
    name: Option<&str>,
    add: &[MemberRef],
    remove: &[String],
) -> Value {
    let mut group = match current {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    group.remove("meta");
    ensure_schema(&mut group, GROUP_SCHEMA);
    group.insert("id".into(), json!(id));
    if let Some(name) = name {
        group.insert("displayName".into(), json!(name));
    }
    let members = members_after(&Value::Object(group.clone()), add, remove);
    group.insert("members".into(), Value::Array(members));
    Value::Object(group)
}

fn ensure_schema(resource: &mut Map<String, Value>, schema: &str) {
    let schemas = resource
        .entry("schemas")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = schemas {
        if !list.iter().any(|s| s.as_str() == Some(schema)) {
            list.push(json!(schema));
        }
    }
}

/// Set or remove `key`.
fn set(object: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    match value {
        Some(v) => {
            object.insert(key.to_owned(), v);
        }
        None => {
            object.remove(key);
        }
    }
}

/// Set or remove `key` inside the complex attribute `parent`, keeping its other
/// sub-attributes; an emptied parent is left out.
fn set_in(object: &mut Map<String, Value>, parent: &str, key: &str, value: Option<Value>) {
    let mut inner = match object.remove(parent) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    set(&mut inner, key, value);
    if !inner.is_empty() {
        object.insert(parent.to_owned(), Value::Object(inner));
    }
}

/// A group's members after a change: the current ones as the server wrote them, less
/// `remove`, plus those of `add` not already there.
fn members_after(current: &Value, add: &[MemberRef], remove: &[String]) -> Vec<Value> {
    let id_of = |member: &Value| match member.get("value") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let mut members: Vec<Value> = current
        .get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| id_of(m).is_none_or(|id| !remove.contains(&id)))
        .cloned()
        .collect();
    for m in wire_members(add) {
        if !members
            .iter()
            .any(|have| id_of(have).as_deref() == Some(m.value.as_str()))
        {
            members.push(serde_json::to_value(m).unwrap_or(Value::Null));
        }
    }
    members
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(display: Option<&str>, email: Option<&str>, department: Option<&str>) -> UserAttrs {
        UserAttrs {
            display_name: display.map(str::to_owned),
            email: email.map(str::to_owned),
            department: department.map(str::to_owned),
            ..UserAttrs::default()
        }
    }

    #[test]
    fn patch_ops_name_each_changed_attribute_by_its_path() {
        let before = attrs(Some("A"), None, Some("X"));
        let after = attrs(Some("B"), None, None);
        let update = UserUpdate {
            user_name: Some("new@example.com"),
            before: &before,
            after: &after,
            active: Some(false),
        };
        let ops = user_patch_ops(&update, &[], false);
        let shown: Vec<(String, Option<String>, Option<Value>)> =
            ops.into_iter().map(|o| (o.op, o.path, o.value)).collect();
        assert_eq!(
            shown,
            vec![
                (
                    "replace".into(),
                    Some("userName".into()),
                    Some(json!("new@example.com"))
                ),
                ("replace".into(), Some("active".into()), Some(json!(false))),
                (
                    "replace".into(),
                    Some("displayName".into()),
                    Some(json!("B"))
                ),
                (
                    "remove".into(),
                    Some(format!("{ENTERPRISE_SCHEMA}:department")),
                    None
                ),
            ]
        );
        // ZIA keeps a top-level copy of department too.
        let zia = user_patch_ops(&update, &[], true);
        assert!(zia
            .iter()
            .any(|o| o.op == "remove" && o.path.as_deref() == Some("department")));
    }

    #[test]
    fn an_email_change_sends_the_whole_list_with_the_others_kept() {
        let current = vec![
            json!({"value": "home@example.org", "type": "home"}),
            json!({"value": "old@example.com", "type": "work", "primary": true, "display": "Work"}),
        ];
        let before = attrs(None, Some("old@example.com"), None);
        let after = attrs(None, Some("new@example.com"), None);
        let update = UserUpdate {
            user_name: None,
            before: &before,
            after: &after,
            active: None,
        };
        let ops = user_patch_ops(&update, &current, false);
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].path.as_deref(), Some("emails"));
        assert_eq!(
            ops[0].value,
            Some(json!([
                {"value": "home@example.org", "type": "home"},
                {"value": "new@example.com", "type": "work", "primary": true, "display": "Work"},
            ]))
        );
        // No email yet: one primary work address; cleared: only the managed one goes.
        assert_eq!(
            emails_after(&[], Some("a@example.com")),
            vec![json!({"value": "a@example.com", "primary": true, "type": "work"})]
        );
        assert_eq!(emails_after(&current, None), vec![current[0].clone()]);
    }

    #[test]
    fn a_put_starts_from_the_server_representation_and_keeps_what_zsc_does_not_manage() {
        let current = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_SCHEMA],
            "id": "u1",
            "userName": "ann@example.com",
            "title": "Engineer",
            "nickName": "annie",
            "name": {"givenName": "Ann", "familyName": "Lee", "middleName": "Q"},
            "phoneNumbers": [{"value": "+1 555", "type": "work"}],
            "emails": [{"value": "ann@home.org", "type": "home"}, {"value": "ann@example.com", "primary": true}],
            ENTERPRISE_SCHEMA: {"employeeNumber": "42", "costCenter": "CC", "department": "Ops",
                                "manager": {"value": "m1"}},
            "groups": [{"value": "g1"}],
            "meta": {"resourceType": "User"},
        });
        let before = UserAttrs {
            given_name: Some("Ann".into()),
            email: Some("ann@example.com".into()),
            department: Some("Ops".into()),
            ..UserAttrs::default()
        };
        let after = UserAttrs {
            given_name: Some("Anne".into()),
            email: Some("anne@example.com".into()),
            department: None,
            ..UserAttrs::default()
        };
        let update = UserUpdate {
            user_name: None,
            before: &before,
            after: &after,
            active: Some(false),
        };
        let body = user_put_body(current, &update, false);
        assert_eq!(
            body,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_SCHEMA],
                "id": "u1",
                "userName": "ann@example.com",
                "active": false,
                "title": "Engineer",
                "nickName": "annie",
                "name": {"givenName": "Anne", "familyName": "Lee", "middleName": "Q"},
                "phoneNumbers": [{"value": "+1 555", "type": "work"}],
                "emails": [{"value": "ann@home.org", "type": "home"}, {"value": "anne@example.com", "primary": true}],
                ENTERPRISE_SCHEMA: {"employeeNumber": "42", "costCenter": "CC", "manager": {"value": "m1"}},
            })
        );
    }

    #[test]
    fn a_group_put_keeps_the_members_that_stay_as_the_server_wrote_them() {
        let current = json!({"displayName": "G", "externalId": "E", "members": [
            {"value": "1", "display": "a@example.com", "$ref": "https://x/Users/1"},
            {"value": 2, "display": "b@example.com"},
        ], "meta": {"version": "W/1"}});
        let add = [
            MemberRef {
                id: "1".into(),
                user_name: "a@example.com".into(),
            },
            MemberRef {
                id: "3".into(),
                user_name: "c@example.com".into(),
            },
        ];
        let body = group_put_body(current, "g", Some("H"), &add, &["2".to_owned()]);
        assert_eq!(
            body,
            json!({
                "schemas": [GROUP_SCHEMA],
                "id": "g",
                "displayName": "H",
                "externalId": "E",
                "members": [
                    {"value": "1", "display": "a@example.com", "$ref": "https://x/Users/1"},
                    {"value": "3", "display": "c@example.com"},
                ],
            })
        );
    }
}
