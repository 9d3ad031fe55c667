//! The lenient YAML model: what one configuration file says, with a source position on every
//! key and value, before anything is checked.
//!
//! Deserializing into this model fails only on YAML syntax errors and on serde-saphyr's budgets
//! and duplicate keys. Every other mistake (an unknown key, a string where a boolean belongs, a
//! list where a map belongs) is kept as data so that validation can report all of them at once.
//!
//! To stay fast on 100,000-user files, the records that repeat (users, groups, tenants) match
//! their keys against a static field table instead of allocating a string per key, and convert
//! serde-saphyr's `Spanned` locations into a compact [`Spot`] straight away.
//!
//! Nothing here reads files or produces messages; see `validate`.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A 1-based line and column in one file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Spot {
    pub line: u32,
    pub column: u32,
}

impl Spot {
    fn of<T>(spanned: &Spanned<T>) -> Spot {
        let loc = if spanned.referenced.line() == 0 {
            spanned.defined
        } else {
            spanned.referenced
        };
        Spot {
            line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
            column: u32::try_from(loc.column()).unwrap_or(u32::MAX),
        }
    }
}

/// A value and where it was written.
///
/// Positions cost: serde-saphyr's `Spanned` builds a small struct view per value, several
/// times the work of the value itself. So a file is parsed in two modes (see
/// [`with_positions`]): a fast one where `At` records no position (`Spot::default()`), used
/// when the configuration turns out valid, and a precise one, used to point at problems once
/// the fast pass has found some. [`Located`] always records its position; it is used for the
/// few values whose position a valid configuration needs (users, groups and tenants, for their
/// `Origin`).
#[derive(Debug)]
pub(crate) struct At<T> {
    pub at: Spot,
    pub value: T,
}

thread_local! {
    static PRECISE: Cell<bool> = const { Cell::new(true) };
    /// Whether the file being read is JSON: then positions come from `json.rs`.
    static JSON: Cell<bool> = const { Cell::new(false) };
}

/// Run `parse` on a JSON file (see [`super::json`]): positions are asked of its parser.
pub(crate) fn as_json<R>(parse: impl FnOnce() -> R) -> R {
    let before = JSON.with(|j| j.replace(true));
    let result = parse();
    JSON.with(|j| j.set(before));
    result
}

/// Run `parse` with every [`At`] recording its position (`precise`) or not.
pub(crate) fn with_positions<R>(precise: bool, parse: impl FnOnce() -> R) -> R {
    let before = PRECISE.with(|p| p.replace(precise));
    let result = parse();
    PRECISE.with(|p| p.set(before));
    result
}

fn spanned<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<At<T>, D::Error> {
    if JSON.with(Cell::get) {
        let (at, value) = super::json::located(d)?;
        return Ok(At { at, value });
    }
    let spanned = Spanned::<T>::deserialize(d)?;
    Ok(At {
        at: Spot::of(&spanned),
        value: spanned.value,
    })
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for At<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if PRECISE.with(Cell::get) {
            spanned(deserializer)
        } else {
            Ok(At {
                at: Spot::default(),
                value: T::deserialize(deserializer)?,
            })
        }
    }
}

/// An [`At`] that records its position in both modes.
pub(crate) struct Located<T>(pub At<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        spanned(deserializer).map(Located)
    }
}

/// An untyped YAML value, for leaves whose type validation checks by hand.
#[derive(Debug)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<At<Node>>),
    Map(Vec<(At<Node>, At<Node>)>),
    /// Something serde-saphyr hands over that a configuration never needs (binary data).
    Other,
}

impl Node {
    /// What the value is, for "found ..." in messages. Never the value itself: a misplaced
    /// token must not be echoed.
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Null => "nothing (null)",
            Node::Bool(_) => "a boolean",
            Node::Int(_) | Node::UInt(_) => "an integer",
            Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a map",
            Node::Other => "binary data",
        }
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }
    fn visit_i128<E>(self, _: i128) -> Result<Node, E> {
        Ok(Node::Float(f64::INFINITY))
    }
    fn visit_u128<E>(self, _: u128) -> Result<Node, E> {
        Ok(Node::Float(f64::INFINITY))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<Node, E> {
        Ok(Node::Other)
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element::<At<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<At<Node>>()? {
            let value = map.next_value::<At<Node>>()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

/// Visitor methods for every shape that is not the expected one: they consume the value and
/// record what it was (`$wrong` builds the result from a `&'static str` kind).
macro_rules! accept_wrong_shapes {
    ($wrong:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($wrong("a boolean"))
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($wrong("an integer"))
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($wrong("an integer"))
        }
        fn visit_i128<E>(self, _: i128) -> Result<Self::Value, E> {
            Ok($wrong("an integer"))
        }
        fn visit_u128<E>(self, _: u128) -> Result<Self::Value, E> {
            Ok($wrong("an integer"))
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($wrong("a number"))
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($wrong("a string"))
        }
        fn visit_bytes<E>(self, _: &[u8]) -> Result<Self::Value, E> {
            Ok($wrong("binary data"))
        }
    };
}

macro_rules! accept_wrong_seq {
    ($wrong:expr) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($wrong("a list"))
        }
    };
}

macro_rules! accept_wrong_map {
    ($wrong:expr) => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok($wrong("a map"))
        }
    };
}

/// The keys one kind of record accepts.
pub(crate) trait Schema {
    /// What the record is called in messages ("user", "group").
    const WHAT: &'static str;
    const FIELDS: &'static [&'static str];
}

/// A mapping key: the index of a known field, or the unknown key's text.
pub(crate) enum Key<S> {
    Known(usize, PhantomData<S>),
    Unknown(String),
}

struct KeyVisitor<S>(PhantomData<S>);

impl<S: Schema> KeyVisitor<S> {
    fn name(v: &str) -> Key<S> {
        match S::FIELDS.iter().position(|f| *f == v) {
            Some(i) => Key::Known(i, PhantomData),
            None => Key::Unknown(v.to_owned()),
        }
    }
}

impl<'de, S: Schema> Visitor<'de> for KeyVisitor<S> {
    type Value = Key<S>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, v: &str) -> Result<Key<S>, E> {
        Ok(Self::name(v))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Key<S>, E> {
        Ok(Key::Unknown(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Key<S>, E> {
        Ok(Key::Unknown(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Key<S>, E> {
        Ok(Key::Unknown(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Key<S>, E> {
        Ok(Key::Unknown(v.to_string()))
    }
    fn visit_unit<E>(self) -> Result<Key<S>, E> {
        Ok(Key::Unknown("~".to_owned()))
    }
    fn visit_none<E>(self) -> Result<Key<S>, E> {
        Ok(Key::Unknown("~".to_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Key<S>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Key::Unknown("[...]".to_owned()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key<S>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Key::Unknown("{...}".to_owned()))
    }
}

impl<'de, S: Schema> Deserialize<'de> for Key<S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeyVisitor(PhantomData))
    }
}

/// A mapping checked against a [`Schema`]: known fields by index, unknown keys kept for
/// messages, or what the value was when it was not a mapping at all.
pub(crate) struct Record<S> {
    pub fields: Vec<Option<(Spot, At<Node>)>>,
    pub unknown: Vec<At<String>>,
    /// Known keys given again in the same mapping (the first value is kept).
    pub duplicates: Vec<At<&'static str>>,
    pub wrong: Option<&'static str>,
    _schema: PhantomData<S>,
}

impl<S: Schema> Record<S> {
    fn wrong(kind: &'static str) -> Self {
        Record {
            fields: Vec::new(),
            unknown: Vec::new(),
            duplicates: Vec::new(),
            wrong: Some(kind),
            _schema: PhantomData,
        }
    }

    /// Take field `index` (a position in `S::FIELDS`): the key's spot and the value.
    pub fn take(&mut self, index: usize) -> Option<(Spot, At<Node>)> {
        self.fields.get_mut(index).and_then(Option::take)
    }

    /// Take the field named `name` (one of `S::FIELDS`).
    pub fn field(&mut self, name: &str) -> Option<(Spot, At<Node>)> {
        let index = S::FIELDS.iter().position(|f| *f == name)?;
        self.take(index)
    }
}

struct RecordVisitor<S>(PhantomData<S>);

impl<'de, S: Schema> Visitor<'de> for RecordVisitor<S> {
    type Value = Record<S>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a {}", S::WHAT)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record<S>, A::Error> {
        let mut fields: Vec<Option<(Spot, At<Node>)>> = Vec::with_capacity(S::FIELDS.len());
        fields.resize_with(S::FIELDS.len(), || None);
        let mut unknown = Vec::new();
        let mut duplicates = Vec::new();
        while let Some(key) = map.next_key::<At<Key<S>>>()? {
            match key.value {
                Key::Known(i, _) => {
                    let value = map.next_value::<At<Node>>()?;
                    if fields[i].is_some() {
                        duplicates.push(At {
                            at: key.at,
                            value: S::FIELDS[i],
                        });
                    } else {
                        fields[i] = Some((key.at, value));
                    }
                }
                Key::Unknown(name) => {
                    map.next_value::<IgnoredAny>()?;
                    unknown.push(At {
                        at: key.at,
                        value: name,
                    });
                }
            }
        }
        Ok(Record {
            fields,
            unknown,
            duplicates,
            wrong: None,
            _schema: PhantomData,
        })
    }

    fn visit_unit<E>(self) -> Result<Record<S>, E> {
        Ok(Record::wrong("nothing (null)"))
    }
    fn visit_none<E>(self) -> Result<Record<S>, E> {
        Ok(Record::wrong("nothing (null)"))
    }

    accept_wrong_shapes!(Record::wrong);
    accept_wrong_seq!(Record::wrong);
}

impl<'de, S: Schema> Deserialize<'de> for Record<S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RecordVisitor(PhantomData))
    }
}

/// A list of records (`users:`, `groups:`), or what the value was instead. A null value (the
/// key with nothing after it) is an empty list.
pub(crate) enum RecordList<S> {
    Items(Vec<At<Record<S>>>),
    Wrong(&'static str),
}

struct RecordListVisitor<S>(PhantomData<S>);

impl<'de, S: Schema> Visitor<'de> for RecordListVisitor<S> {
    type Value = RecordList<S>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a list of {}s", S::WHAT)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RecordList<S>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        while let Some(Located(item)) = seq.next_element::<Located<Record<S>>>()? {
            items.push(item);
        }
        Ok(RecordList::Items(items))
    }
    fn visit_unit<E>(self) -> Result<RecordList<S>, E> {
        Ok(RecordList::Items(Vec::new()))
    }
    fn visit_none<E>(self) -> Result<RecordList<S>, E> {
        Ok(RecordList::Items(Vec::new()))
    }

    accept_wrong_shapes!(RecordList::Wrong);
    accept_wrong_map!(RecordList::Wrong);
}

impl<'de, S: Schema> Deserialize<'de> for RecordList<S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RecordListVisitor(PhantomData))
    }
}

/// The `tenants:` map: name to tenant record, in file order.
pub(crate) enum TenantMap {
    Entries(Vec<(At<Node>, At<Record<TenantSchema>>)>),
    Wrong(&'static str),
}

struct TenantMapVisitor;

impl<'de> Visitor<'de> for TenantMapVisitor {
    type Value = TenantMap;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of tenants")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TenantMap, A::Error> {
        let mut entries = Vec::new();
        while let Some(Located(key)) = map.next_key::<Located<Node>>()? {
            let Located(value) = map.next_value::<Located<Record<TenantSchema>>>()?;
            entries.push((key, value));
        }
        Ok(TenantMap::Entries(entries))
    }
    fn visit_unit<E>(self) -> Result<TenantMap, E> {
        Ok(TenantMap::Entries(Vec::new()))
    }
    fn visit_none<E>(self) -> Result<TenantMap, E> {
        Ok(TenantMap::Entries(Vec::new()))
    }

    accept_wrong_shapes!(TenantMap::Wrong);
    accept_wrong_seq!(TenantMap::Wrong);
}

impl<'de> Deserialize<'de> for TenantMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TenantMapVisitor)
    }
}

/// One file's top level. Included files use the same shape; validation rejects the keys they
/// may not hold.
#[derive(Default)]
pub(crate) struct Root {
    /// Each present key with the spot of the key itself.
    pub tenants: Option<(Spot, At<TenantMap>)>,
    pub defaults: Option<(Spot, At<Record<DefaultsSchema>>)>,
    pub include: Option<(Spot, At<Node>)>,
    pub users: Option<(Spot, At<RecordList<UserSchema>>)>,
    pub groups: Option<(Spot, At<RecordList<GroupSchema>>)>,
    /// `backend:` stays an untyped map: which keys it takes depends on its `kind`.
    pub backend: Option<(Spot, At<Node>)>,
    pub unknown: Vec<At<String>>,
    pub duplicates: Vec<At<&'static str>>,
    /// The document was not a mapping: what it was.
    pub wrong: Option<&'static str>,
}

impl Root {
    fn has(&self, index: usize) -> bool {
        match index {
            0 => self.tenants.is_some(),
            1 => self.defaults.is_some(),
            2 => self.include.is_some(),
            3 => self.users.is_some(),
            4 => self.groups.is_some(),
            5 => self.backend.is_some(),
            _ => false,
        }
    }

    fn wrong(kind: &'static str) -> Self {
        Root {
            wrong: Some(kind),
            ..Root::default()
        }
    }
}

struct RootVisitor;

impl<'de> Visitor<'de> for RootVisitor {
    type Value = Root;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a configuration mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Root, A::Error> {
        let mut root = Root::default();
        while let Some(Located(key)) = map.next_key::<Located<Key<RootSchema>>>()? {
            let at = key.at;
            match key.value {
                Key::Known(i, _) if root.has(i) => {
                    map.next_value::<IgnoredAny>()?;
                    root.duplicates.push(At {
                        at,
                        value: RootSchema::FIELDS[i],
                    });
                }
                Key::Known(0, _) => root.tenants = Some((at, map.next_value()?)),
                Key::Known(1, _) => root.defaults = Some((at, map.next_value()?)),
                Key::Known(2, _) => root.include = Some((at, map.next_value()?)),
                Key::Known(3, _) => root.users = Some((at, map.next_value()?)),
                Key::Known(4, _) => root.groups = Some((at, map.next_value()?)),
                Key::Known(5, _) => root.backend = Some((at, map.next_value()?)),
                Key::Known(..) => {
                    return Err(de::Error::custom("internal error: root field table"));
                }
                Key::Unknown(name) => {
                    map.next_value::<IgnoredAny>()?;
                    root.unknown.push(At { at, value: name });
                }
            }
        }
        Ok(root)
    }

    fn visit_unit<E>(self) -> Result<Root, E> {
        Ok(Root::default())
    }
    fn visit_none<E>(self) -> Result<Root, E> {
        Ok(Root::default())
    }

    accept_wrong_shapes!(Root::wrong);
    accept_wrong_seq!(Root::wrong);
}

impl<'de> Deserialize<'de> for Root {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RootVisitor)
    }
}

macro_rules! schema {
    ($name:ident, $what:literal, [$($field:literal),* $(,)?]) => {
        pub(crate) struct $name;
        impl Schema for $name {
            const WHAT: &'static str = $what;
            const FIELDS: &'static [&'static str] = &[$($field),*];
        }
    };
}

schema!(
    RootSchema,
    "the configuration",
    ["tenants", "defaults", "include", "users", "groups", "backend"]
);
schema!(
    TenantSchema,
    "tenant",
    [
        "kind",
        "url",
        "token",
        "dialect",
        "rate_limit",
        "parallelism",
        "page_size",
        "allowed_domains",
        "renamed_from",
        // How the tenant is read (`read_policy.rs`).
        "refresh",
        "max_refresh_age",
        "membership_source",
    ]
);
schema!(
    DefaultsSchema,
    "defaults",
    [
        "remove_user_action",
        "max_destroy",
        "max_destroy_percent",
        "expiry_notice_days",
    ]
);
schema!(
    UserSchema,
    "user",
    [
        "user_name",
        "renamed_from",
        "display_name",
        "given_name",
        "family_name",
        "email",
        "department",
        "external_id",
        "active",
        "tenants",
        "groups",
        "protect",
        "until",
    ]
);
schema!(
    GroupSchema,
    "group",
    [
        "name",
        "renamed_from",
        "members",
        "tenants",
        "protect",
        "members_from",
        "exclude",
        "include_groups",
    ]
);
