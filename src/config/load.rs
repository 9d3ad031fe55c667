//! Reading: the main file, include globs and the included files; parsing each with
//! serde-saphyr under budgets that hostile input cannot get past; turning collected problems
//! into [`Diagnostic`]s with their source lines.
//!
//! What the files mean is `validate`'s business; this module only finds, reads and parses them.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::check::Sink;
use super::diagnostic::{ConfigError, Diagnostic};
use super::raw::{as_json, with_positions, At, Root, Spot};
use super::validate::Validator;
use super::{Config, LoadOptions, MAX_FILE_BYTES};

/// All included files together may hold at most this many bytes.
const MAX_TOTAL_BYTES: u64 = 2 * MAX_FILE_BYTES;

/// A file that was read.
struct SourceFile {
    path: PathBuf,
    /// As shown in messages: as given, or joined from the configuration's directory.
    display: String,
    text: String,
}

pub(crate) struct Loader<'o> {
    path: PathBuf,
    /// The main file's directory as written (empty for a bare file name), so that joined paths
    /// read the way the user gave them.
    base: PathBuf,
    options: &'o LoadOptions,
    files: Vec<SourceFile>,
    sink: Sink,
    total_bytes: u64,
    /// Record the position of every value (see [`super::raw::with_positions`]).
    precise: bool,
}

/// An included file to read and parse.
struct Job {
    /// The `include:` pattern that matched it.
    pattern_at: Spot,
    path: PathBuf,
    /// Reading it would pass the total size limit: the total.
    too_large: Option<u64>,
}

/// A file's text and its parse.
type Loaded = (String, Result<Root, (Spot, String)>);

/// Read and parse every job's file, on up to as many threads as there are cores; results in
/// job order.
fn load_all(jobs: &[Job], precise: bool) -> Vec<Result<Loaded, ReadError>> {
    crate::par::map(jobs, 1, |job| {
        if let Some(total) = job.too_large {
            return Err(ReadError::TooLarge(total));
        }
        let text = read_file(&job.path)?;
        let parsed = parse(&text, precise, is_json(&job.path));
        Ok((text, parsed))
    })
}

enum ReadError {
    Io(io::Error),
    TooLarge(u64),
    NotUtf8(Spot),
}

impl<'o> Loader<'o> {
    pub fn new(path: &Path, options: &'o LoadOptions) -> Self {
        Loader {
            path: path.to_owned(),
            base: path.parent().map(Path::to_owned).unwrap_or_default(),
            options,
            files: Vec::new(),
            sink: Sink::default(),
            total_bytes: 0,
            precise: false,
        }
    }

    /// Load fast, without positions; if that finds problems, load again with positions to
    /// report them. A valid configuration (the common case, and the large one) pays for
    /// positions only where its `Origin`s need them.
    pub fn run(self) -> Result<Config, ConfigError> {
        let again = Loader::new(&self.path, self.options);
        match self.pass(false) {
            Ok(config) => Ok(config),
            Err(ConfigError::Invalid(fast)) => match again.pass(true) {
                Err(ConfigError::Invalid(precise)) if !precise.is_empty() => {
                    Err(ConfigError::Invalid(precise))
                }
                // The files changed between the passes; the first answer stands.
                _ => Err(ConfigError::Invalid(fast)),
            },
            Err(read) => Err(read),
        }
    }

    fn pass(mut self, precise: bool) -> Result<Config, ConfigError> {
        self.precise = precise;
        let display = self.path.display().to_string();
        let text = match read_file(&self.path) {
            Ok(text) => text,
            Err(ReadError::Io(source)) => {
                return Err(ConfigError::Read {
                    path: self.path,
                    source,
                })
            }
            Err(ReadError::TooLarge(n)) => {
                self.push_file(self.path.clone(), display, String::new());
                self.sink.error(0, Spot::default(), too_large(n));
                return Err(self.into_error());
            }
            Err(ReadError::NotUtf8(at)) => {
                self.push_file(self.path.clone(), display, String::new());
                self.sink.error(0, at, "the file is not valid UTF-8");
                return Err(self.into_error());
            }
        };
        let parsed = parse(&text, self.precise, is_json(&self.path));
        self.push_file(self.path.clone(), display.clone(), text);
        let root = match parsed {
            Ok(root) => root,
            Err((at, message)) => {
                self.sink.error(0, at, message);
                return Err(self.into_error());
            }
        };

        let mut validator = Validator::new(
            &self.base,
            self.options.check_tokens,
            &self.options.backend_overrides,
        );
        validator.add_file(display);
        let patterns = validator.main_file(&mut self.sink, root);
        self.include(&mut validator, &patterns);
        let result = validator.finish(&mut self.sink);

        if !self.sink.problems.is_empty() {
            return Err(self.into_error());
        }
        let Some((tenants, defaults, desired, notes, backend)) = result else {
            // Validation produced nothing without saying why: a bug, but not a panic.
            self.sink.error(
                0,
                Spot::default(),
                "the configuration could not be validated",
            );
            return Err(self.into_error());
        };
        let dir = if self.base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            self.base.clone()
        };
        Ok(Config {
            path: self.path,
            dir,
            files: self.files.into_iter().map(|f| f.path).collect(),
            tenants,
            defaults,
            desired,
            notes,
            backend,
        })
    }

    fn push_file(&mut self, path: PathBuf, display: String, text: String) {
        self.files.push(SourceFile {
            path,
            display,
            text,
        });
    }

    /// Expand the `include:` patterns, then read and parse the files they match (in parallel:
    /// parsing is most of a large configuration's load time) and check them in order.
    fn include(&mut self, validator: &mut Validator, patterns: &[At<String>]) {
        let mut seen: HashSet<PathBuf> = HashSet::new();
        seen.insert(fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone()));
        let mut jobs = Vec::new();
        for pattern in patterns {
            self.expand_into(pattern, &mut seen, &mut jobs);
        }
        let loaded = load_all(&jobs, self.precise);
        for (job, result) in jobs.into_iter().zip(loaded) {
            let display = job.path.display().to_string();
            let (text, parsed) = match result {
                Ok(loaded) => loaded,
                Err(ReadError::Io(e)) => {
                    let message = format!("cannot read included file `{display}`: {e}");
                    self.sink.error(0, job.pattern_at, message);
                    continue;
                }
                Err(ReadError::TooLarge(n)) => {
                    let message = format!("included file `{display}`: {}", too_large(n));
                    self.sink.error(0, job.pattern_at, message);
                    continue;
                }
                Err(ReadError::NotUtf8(at)) => (
                    String::new(),
                    Err((at, "the file is not valid UTF-8".to_owned())),
                ),
            };
            let index = self.files.len();
            self.push_file(job.path, display.clone(), text);
            validator.add_file(display);
            match parsed {
                Ok(root) => validator.included_file(&mut self.sink, index, root),
                Err((at, message)) => {
                    validator.broken_file();
                    self.sink.error(index, at, message);
                }
            }
        }
    }

    /// Add the files `pattern` matches to `jobs`, skipping files already included (or the main
    /// file, which `*.yaml` may match) and refusing what would exceed the total size limit.
    fn expand_into(
        &mut self,
        pattern: &At<String>,
        seen: &mut HashSet<PathBuf>,
        jobs: &mut Vec<Job>,
    ) {
        let paths = match self.expand(&pattern.value) {
            Ok(paths) => paths,
            Err(message) => {
                self.sink.error(0, pattern.at, message);
                return;
            }
        };
        if paths.is_empty() {
            let message = format!("include pattern `{}` matches no file", pattern.value);
            self.sink.error(0, pattern.at, message);
            return;
        }
        for path in paths {
            let canonical = fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if !seen.insert(canonical) {
                continue;
            }
            let size = fs::metadata(&path).map_or(0, |m| m.len());
            self.total_bytes = self.total_bytes.saturating_add(size);
            let too_large = (self.total_bytes > MAX_TOTAL_BYTES).then_some(self.total_bytes);
            jobs.push(Job {
                pattern_at: pattern.at,
                path,
                too_large,
            });
        }
    }

    /// The files a pattern matches, sorted, relative to the configuration's directory.
    fn expand(&self, pattern: &str) -> Result<Vec<PathBuf>, String> {
        if pattern.trim().is_empty() {
            return Err("include pattern is empty".to_owned());
        }
        let full = if Path::new(pattern).is_absolute() || self.base.as_os_str().is_empty() {
            pattern.to_owned()
        } else {
            let Some(base) = self.base.to_str() else {
                return Err(format!(
                    "cannot expand `{pattern}`: the configuration's directory is not valid UTF-8"
                ));
            };
            let base = glob::Pattern::escape(base);
            format!("{}/{pattern}", base.trim_end_matches('/'))
        };
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let entries = glob::glob_with(&full, options)
            .map_err(|e| format!("invalid include pattern `{pattern}`: {}", e.msg))?;
        let mut paths = Vec::new();
        for entry in entries {
            match entry {
                Ok(path) if path.is_file() => paths.push(path),
                Ok(_) => {}
                Err(e) => {
                    return Err(format!(
                        "cannot expand include pattern `{pattern}`: cannot read `{}`: {}",
                        e.path().display(),
                        e.error()
                    ))
                }
            }
        }
        Ok(paths)
    }

    fn into_error(mut self) -> ConfigError {
        let mut problems = std::mem::take(&mut self.sink.problems);
        problems.sort_by_key(|p| (p.file, p.at));
        let mut diagnostics = Vec::with_capacity(problems.len());
        let mut lines: Option<(usize, Vec<usize>)> = None;
        for p in problems {
            let Some(file) = self.files.get(p.file) else {
                continue;
            };
            let snippet = if p.at.line == 0 || file.text.is_empty() {
                None
            } else {
                if lines.as_ref().map(|(i, _)| *i) != Some(p.file) {
                    lines = Some((p.file, line_starts(&file.text)));
                }
                lines
                    .as_ref()
                    .and_then(|(_, starts)| source_line(&file.text, starts, p.at.line))
                    .map(|line| redact(line, p.secret.then_some(p.at.column)))
            };
            diagnostics.push(Diagnostic {
                file: file.display.clone(),
                line: u64::from(p.at.line),
                column: u64::from(p.at.column),
                message: p.message,
                snippet,
            });
        }
        ConfigError::Invalid(diagnostics)
    }
}

fn too_large(n: u64) -> String {
    format!(
        "the configuration is too large ({n} bytes; the limit is {} MiB per file and {} MiB in all)",
        MAX_FILE_BYTES / (1024 * 1024),
        MAX_TOTAL_BYTES / (1024 * 1024)
    )
}

/// Read a whole file, refusing more than [`MAX_FILE_BYTES`] (without reading them) and text
/// that is not UTF-8.
fn read_file(path: &Path) -> Result<String, ReadError> {
    let file = fs::File::open(path).map_err(ReadError::Io)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|b| **b == b'\n').count() + 1;
        let last = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&good[last..]).chars().count() + 1;
        ReadError::NotUtf8(Spot {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
        })
    })
}

/// Mask what could be a secret on a source line shown in a message: everything from `column`
/// on when the problem is about a secret, and any value written inline after a `token:` key
/// (a YAML syntax error on that line must not print it either).
fn redact(line: String, column: Option<u32>) -> String {
    const MASK: &str = "<redacted>";
    if let Some(column) = column {
        let keep = usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX);
        let prefix: String = line.chars().take(keep).collect();
        return format!("{prefix}{MASK}");
    }
    if let Some(index) = line.find("token:") {
        let rest = line[index + "token:".len()..].trim_start();
        if !rest.is_empty() && !rest.starts_with('{') && !rest.starts_with('#') {
            return format!("{}token: {MASK}", &line[..index]);
        }
    }
    line
}

fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

fn source_line(text: &str, starts: &[usize], line: u32) -> Option<String> {
    let index = usize::try_from(line).ok()?.checked_sub(1)?;
    let start = *starts.get(index)?;
    let end = starts.get(index + 1).map_or(text.len(), |e| e - 1);
    let line = text.get(start..end)?;
    Some(line.trim_end_matches('\r').to_owned())
}

/// serde-saphyr's settings: strict YAML 1.2 booleans (`yes` is a string), duplicate keys passed
/// through to be reported by validation, and budgets sized for ~300,000 users per file that stop alias bombs, deep nesting
/// and oversized input long before memory is at risk.
fn yaml_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_reader_input_bytes = usize::try_from(MAX_FILE_BYTES).ok();
    budget.max_events = 16_000_000;
    budget.max_nodes = 8_000_000;
    budget.max_depth = 32;
    budget.max_documents = 1;
    budget.max_aliases = 1_000_000;
    budget.max_anchors = 100_000;
    budget.enforce_alias_anchor_ratio = false;
    budget.max_total_scalar_bytes = usize::try_from(MAX_FILE_BYTES).unwrap_or(usize::MAX);
    budget.max_merge_keys = 10_000;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.strict_booleans = true;
    // Repeated keys reach our visitors, which report them with the other problems.
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    options.alias_limits.max_total_replayed_events = 2_000_000;
    options.alias_limits.max_replay_stack_depth = 16;
    options.with_snippet = false;
    options
}

/// Whether `path` is read as JSON (its name ends in `.json`, in any case) rather than YAML.
fn is_json(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// Parse one file (as JSON or YAML); a failure is a position (possibly unknown: line 0) and a
/// message.
fn parse(text: &str, precise: bool, json: bool) -> Result<Root, (Spot, String)> {
    if json {
        return with_positions(precise, || as_json(|| super::json::from_str::<Root>(text)))
            .map_err(|e| (e.at, e.message));
    }
    with_positions(precise, || {
        serde_saphyr::from_str_with_options::<Root>(text, yaml_options())
    })
    .map_err(|e| {
        let at = e.location().map_or(Spot::default(), |loc| Spot {
            line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
            column: u32::try_from(loc.column()).unwrap_or(u32::MAX),
        });
        (at, yaml_message(&e))
    })
}

fn yaml_message(e: &serde_saphyr::Error) -> String {
    use serde_saphyr::MessageFormatter;
    let e = e.without_snippet();
    match e {
        serde_saphyr::Error::DuplicateMappingKey { key: Some(key), .. } => {
            return format!("duplicate key `{key}` (each key may appear once in a map)");
        }
        serde_saphyr::Error::DuplicateMappingKey { key: None, .. } => {
            return "duplicate key (each key may appear once in a map)".to_owned();
        }
        serde_saphyr::Error::Budget { breach, .. } => {
            return format!(
                "the file exceeds a safety limit of the YAML reader ({breach:?}); split it into included files"
            );
        }
        _ => {}
    }
    let formatter = serde_saphyr::DefaultMessageFormatter;
    let text = formatter.format_message(e).into_owned();
    if let Some(detail) = text.strip_prefix("budget breached: ") {
        return format!(
            "the file exceeds a safety limit of the YAML reader ({detail}); split it into included files"
        );
    }
    let mut chars = text.chars();
    let text = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "invalid YAML".to_owned(),
    };
    format!("invalid YAML: {text}")
}
