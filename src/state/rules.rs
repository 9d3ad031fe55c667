//! Terraform's rules for replacing a stored state, in one place for every backend:
//!
//! - a state of another lineage never replaces this one (it is another history);
//! - a lower serial never replaces a higher one (it is older);
//! - the same serial with different content never replaces it (two histories forked);
//! - the serial is raised only when the content changed ([`next_serial`]).
//!
//! Pure: what is stored is described by a [`Stored`] (lineage, serial, content digest); no I/O.

use std::io;

use sha2::{Digest, Sha256};

use super::model::State;

/// What a backend holds now, as far as the rules care.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub lineage: String,
    pub serial: u64,
    pub digest: [u8; 32],
}

impl Stored {
    pub fn of(state: &State) -> Stored {
        Stored {
            lineage: state.lineage.clone(),
            serial: state.serial,
            digest: digest(state),
        }
    }
}

/// Why a state may not replace the stored one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error(
        "it has lineage {new}, but the stored state has lineage {stored}: it is another state's \
         history"
    )]
    Lineage { stored: String, new: String },
    #[error("its serial {new} is lower than the stored state's {stored}: it is older")]
    OlderSerial { stored: u64, new: u64 },
    #[error(
        "it has the stored state's serial {serial} but different content: the two have forked"
    )]
    Forked { serial: u64 },
}

/// What a write of a state would do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It is the stored state already: nothing to write.
    Same,
    /// It follows the stored state (or nothing is stored): write it.
    Successor,
}

/// Whether `new` may replace `stored` (`None`: nothing is stored).
pub fn check(stored: Option<&Stored>, new: &State) -> Result<Verdict, RuleError> {
    let Some(stored) = stored else {
        return Ok(Verdict::Successor);
    };
    if stored.lineage != new.lineage {
        return Err(RuleError::Lineage {
            stored: stored.lineage.clone(),
            new: new.lineage.clone(),
        });
    }
    if new.serial < stored.serial {
        return Err(RuleError::OlderSerial {
            stored: stored.serial,
            new: new.serial,
        });
    }
    if new.serial == stored.serial {
        return if digest(new) == stored.digest {
            Ok(Verdict::Same)
        } else {
            Err(RuleError::Forked { serial: new.serial })
        };
    }
    Ok(Verdict::Successor)
}

/// The serial `state` is written with, given what is stored: unchanged content keeps the
/// stored serial (`None`: nothing to write), changed content takes the stored serial plus one
/// (never less than the state's own). With nothing stored, an empty state is not written and
/// anything else starts at 1. The one place a serial is raised, for every backend.
pub fn next_serial(stored: Option<&Stored>, state: &State) -> Option<u64> {
    match stored {
        Some(s) if s.lineage == state.lineage && s.digest == digest(state) => None,
        Some(s) => Some((s.serial + 1).max(state.serial)),
        None if state.tenants.is_empty() => None,
        None => Some(1.max(state.serial)),
    }
}

/// A digest of what a state says zsc manages and its lineage (not its serial): two states with
/// the same one need no new serial between them.
pub fn digest(state: &State) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(state.lineage.as_bytes());
    hasher.update([0]);
    // Serialising into the hasher: no copy of a large state is made.
    let _ = serde_json::to_writer(HashWriter(&mut hasher), &state.tenants);
    hasher.finalize().into()
}

struct HashWriter<'a>(&'a mut Sha256);

impl io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{ManagedGroup, StateOp};

    fn with_group(state: &mut State, name: &str) {
        state.apply(
            "t",
            &StateOp::PutGroup {
                group: ManagedGroup {
                    id: format!("id-{name}"),
                    name: name.into(),
                    members: Vec::new(),
                    protect: false,
                    wrote: None,
                },
            },
        );
    }

    #[test]
    fn the_rules_refuse_another_lineage_an_older_serial_and_a_fork() {
        let mut stored_state = State::new();
        stored_state.serial = 5;
        with_group(&mut stored_state, "A");
        let stored = Stored::of(&stored_state);

        let mut other = State::new();
        other.serial = 9;
        assert!(matches!(
            check(Some(&stored), &other),
            Err(RuleError::Lineage { .. })
        ));

        let mut older = stored_state.clone();
        older.serial = 4;
        assert_eq!(
            check(Some(&stored), &older),
            Err(RuleError::OlderSerial { stored: 5, new: 4 })
        );

        let mut forked = stored_state.clone();
        with_group(&mut forked, "B");
        assert_eq!(
            check(Some(&stored), &forked),
            Err(RuleError::Forked { serial: 5 })
        );

        assert_eq!(check(Some(&stored), &stored_state), Ok(Verdict::Same));
        forked.serial = 6;
        assert_eq!(check(Some(&stored), &forked), Ok(Verdict::Successor));
        assert_eq!(check(None, &other), Ok(Verdict::Successor));
    }

    #[test]
    fn the_serial_rises_only_when_the_content_changes() {
        let mut state = State::new();
        assert_eq!(next_serial(None, &state), None, "nothing to store yet");
        with_group(&mut state, "A");
        assert_eq!(next_serial(None, &state), Some(1));
        state.serial = 1;
        let stored = Stored::of(&state);
        assert_eq!(next_serial(Some(&stored), &state), None);
        with_group(&mut state, "B");
        assert_eq!(next_serial(Some(&stored), &state), Some(2));
    }
}
