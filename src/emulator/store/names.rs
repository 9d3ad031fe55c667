//! An index from folded names (a userName, a group's displayName) to the resources that carry
//! them: one key per name, or several, in insertion order, when a fault switch lets the server
//! accept duplicates (`Faults::duplicate_user_names`, `Faults::duplicate_group_names`).
//!
//! Bookkeeping only: whether a duplicate may be written is the store's rules' decision, and
//! names arrive here already folded (`crate::model::name_key`).

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use super::Key;

#[derive(Debug, Default)]
pub(super) struct NameIndex(HashMap<String, Keys>);

/// The keys of one name. A name almost always has one key, which needs no allocation.
#[derive(Debug)]
enum Keys {
    One(Key),
    /// Sorted (insertion order), at least two.
    Many(Vec<Key>),
}

impl NameIndex {
    pub(super) fn reserve(&mut self, additional: usize) {
        self.0.reserve(additional);
    }

    /// The keys carrying `name`, in insertion order.
    pub(super) fn get(&self, name: &str) -> &[Key] {
        match self.0.get(name) {
            None => &[],
            Some(Keys::One(key)) => std::slice::from_ref(key),
            Some(Keys::Many(keys)) => keys,
        }
    }

    /// A key other than `this` that carries `name`: the one a write of `name` would clash with.
    pub(super) fn other_than(&self, name: &str, this: Option<Key>) -> Option<Key> {
        self.get(name)
            .iter()
            .copied()
            .find(|key| Some(*key) != this)
    }

    pub(super) fn insert(&mut self, name: String, key: Key) {
        match self.0.entry(name) {
            Entry::Vacant(entry) => {
                entry.insert(Keys::One(key));
            }
            Entry::Occupied(mut entry) => {
                let keys = entry.get_mut();
                match keys {
                    Keys::One(one) if *one == key => {}
                    Keys::One(one) => {
                        let mut many = vec![*one, key];
                        many.sort_unstable();
                        *keys = Keys::Many(many);
                    }
                    Keys::Many(many) => {
                        if let Err(at) = many.binary_search(&key) {
                            many.insert(at, key);
                        }
                    }
                }
            }
        }
    }

    pub(super) fn remove(&mut self, name: &str, key: Key) {
        let Some(keys) = self.0.get_mut(name) else {
            return;
        };
        let now_empty = match keys {
            Keys::One(one) => *one == key,
            Keys::Many(many) => {
                many.retain(|k| *k != key);
                if let [last] = many.as_slice() {
                    *keys = Keys::One(*last);
                }
                false
            }
        };
        if now_empty {
            self.0.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_name_may_hold_several_keys_in_order() {
        let mut index = NameIndex::default();
        index.insert("a".into(), 5);
        assert_eq!(index.get("a"), &[5]);
        assert_eq!(index.other_than("a", Some(5)), None);
        index.insert("a".into(), 2);
        index.insert("a".into(), 9);
        assert_eq!(index.get("a"), &[2, 5, 9]);
        assert_eq!(index.other_than("a", Some(2)), Some(5));
        index.remove("a", 5);
        index.remove("a", 2);
        assert_eq!(index.get("a"), &[9]);
        index.remove("a", 7);
        index.remove("a", 9);
        assert_eq!(index.get("a"), &[] as &[Key]);
        assert!(index.0.is_empty());
    }
}
