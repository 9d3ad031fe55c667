//! Type checks for single values: turn a raw [`Node`] into the type a key expects, or record a
//! problem and carry on. Every message names the key and what was found, never the value
//! itself (the value may be a misplaced secret).

use super::raw::{At, Node, Record, Schema, Spot};

/// A problem at a place in a file (`file` indexes the loader's file list; a zero line means the
/// whole file).
#[derive(Debug)]
pub(crate) struct Problem {
    pub file: usize,
    pub at: Spot,
    pub message: String,
    /// The source line holds a secret from `at` on: show it masked.
    pub secret: bool,
}

/// Where problems are collected, in the order found; the loader sorts them by position.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    pub problems: Vec<Problem>,
}

impl Sink {
    pub fn error(&mut self, file: usize, at: Spot, message: impl Into<String>) {
        self.problems.push(Problem {
            file,
            at,
            message: message.into(),
            secret: false,
        });
    }

    /// A problem whose source line shows a secret from `at` on (an inline token).
    pub fn secret_error(&mut self, file: usize, at: Spot, message: impl Into<String>) {
        self.problems.push(Problem {
            file,
            at,
            message: message.into(),
            secret: true,
        });
    }
}

/// The checks for one file.
pub(crate) struct Ctx<'a> {
    pub sink: &'a mut Sink,
    pub file: usize,
}

impl Ctx<'_> {
    pub fn error(&mut self, at: Spot, message: impl Into<String>) {
        self.sink.error(self.file, at, message);
    }

    pub fn secret_error(&mut self, at: Spot, message: impl Into<String>) {
        self.sink.secret_error(self.file, at, message);
    }

    /// Report the unknown keys of a record, or that it is not a mapping at all. Returns false
    /// when the record is not a mapping (nothing more to check).
    pub fn record_shape<S: Schema>(&mut self, at: Spot, record: &Record<S>) -> bool {
        if let Some(found) = record.wrong {
            self.error(
                at,
                match S::WHAT {
                    "defaults" => format!("`defaults` must be a map of keys, found {found}"),
                    what => format!("each {what} must be a map of keys, found {found}"),
                },
            );
            return false;
        }
        for key in &record.unknown {
            self.unknown_key(key, S::WHAT, S::FIELDS);
        }
        for key in &record.duplicates {
            self.duplicate_key(key, S::WHAT);
        }
        true
    }

    pub fn unknown_key(&mut self, key: &At<String>, what: &str, expected: &[&str]) {
        let list = expected
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let hint = did_you_mean(&key.value, expected.iter().copied())
            .map(|m| format!("; did you mean `{m}`?"))
            .unwrap_or_default();
        self.error(
            key.at,
            format!(
                "unknown key `{}` in {what} (expected one of {list}){hint}",
                key.value
            ),
        );
    }

    pub fn duplicate_key(&mut self, key: &At<&str>, what: &str) {
        self.error(
            key.at,
            format!(
                "duplicate key `{}` in {what} (each key may appear once)",
                key.value
            ),
        );
    }

    fn wrong(&mut self, key: &str, want: &str, value: &At<Node>) {
        let hint = match value.value {
            Node::Int(_) | Node::UInt(_) | Node::Float(_) | Node::Bool(_)
                if want.contains("string") =>
            {
                " (put it in quotes)"
            }
            _ => "",
        };
        self.error(
            value.at,
            format!("`{key}` must be {want}, found {}{hint}", value.value.kind()),
        );
    }

    /// A string; `null` means "not given".
    pub fn string(&mut self, key: &str, value: At<Node>) -> Option<At<String>> {
        match value.value {
            Node::Str(s) => Some(At {
                at: value.at,
                value: s,
            }),
            Node::Null => None,
            _ => {
                self.wrong(key, "a string", &value);
                None
            }
        }
    }

    /// A boolean; `null` means "not given".
    pub fn boolean(&mut self, key: &str, value: At<Node>) -> Option<bool> {
        match value.value {
            Node::Bool(b) => Some(b),
            Node::Null => None,
            _ => {
                self.wrong(key, "`true` or `false`", &value);
                None
            }
        }
    }

    /// A list of strings; `null` means "not given". Wrong entries are reported and skipped.
    pub fn string_list(&mut self, key: &str, value: At<Node>) -> Option<Vec<At<String>>> {
        match value.value {
            Node::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item.value {
                        Node::Str(s) => out.push(At {
                            at: item.at,
                            value: s,
                        }),
                        ref other => {
                            let kind = other.kind();
                            self.error(
                                item.at,
                                format!("each entry of `{key}` must be a string, found {kind}"),
                            );
                        }
                    }
                }
                Some(out)
            }
            Node::Null => None,
            Node::Str(_) => {
                self.error(
                    value.at,
                    format!("`{key}` must be a list, found a string (write `[...]` around it)"),
                );
                None
            }
            _ => {
                self.wrong(key, "a list of strings", &value);
                None
            }
        }
    }

    /// A whole number in `min..=max`.
    pub fn integer(&mut self, key: &str, value: At<Node>, min: u64, max: u64) -> Option<u64> {
        let n = match value.value {
            Node::UInt(n) => n,
            Node::Int(n) if n >= 0 => n.unsigned_abs(),
            Node::Int(n) => {
                self.error(
                    value.at,
                    format!("`{key}` must be {}, found {n}", range(min, max)),
                );
                return None;
            }
            Node::Null => return None,
            _ => {
                self.wrong(key, "a whole number", &value);
                return None;
            }
        };
        if n < min || n > max {
            self.error(
                value.at,
                format!("`{key}` must be {}, found {n}", range(min, max)),
            );
            return None;
        }
        Some(n)
    }

    /// A finite number within `min..=max` (`min_exclusive`: strictly above `min`).
    pub fn number(
        &mut self,
        key: &str,
        value: At<Node>,
        min: f64,
        min_exclusive: bool,
        max: f64,
    ) -> Option<f64> {
        #[allow(clippy::cast_precision_loss)]
        let n = match value.value {
            Node::UInt(n) => n as f64,
            Node::Int(n) => n as f64,
            Node::Float(f) => f,
            Node::Null => return None,
            _ => {
                self.wrong(key, "a number", &value);
                return None;
            }
        };
        let low_ok = if min_exclusive { n > min } else { n >= min };
        if !n.is_finite() || !low_ok || n > max {
            let range = if min_exclusive {
                format!("greater than {min}")
            } else if max.is_finite() {
                format!("between {min} and {max}")
            } else {
                format!("at least {min}")
            };
            let range = if min_exclusive && max.is_finite() {
                format!("{range} and at most {max}")
            } else {
                range
            };
            self.error(value.at, format!("`{key}` must be {range}, found {n}"));
            return None;
        }
        Some(n)
    }
}

/// "between 1 and 256", or "0 or more" when the maximum is only a technical limit.
fn range(min: u64, max: u64) -> String {
    if max >= u64::from(u32::MAX) {
        format!("a whole number, {min} or more")
    } else {
        format!("between {min} and {max}")
    }
}

/// The candidate closest to `typed`, if one is close enough to be what was meant (a typo, a
/// transposition, a different case): Jaro-Winkler similarity of at least 0.85, as rustc and
/// clap suggest.
pub(crate) fn did_you_mean<'a>(
    typed: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let folded = typed.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&folded, &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}
