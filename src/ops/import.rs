//! `zsc import`: read tenants live, write YAML that declares what they hold, and record it in
//! state as managed, so that the next plan is empty.
//!
//! The merge itself is pure (`plan::import`); this reads, writes and reports. The user's
//! `zsc.yaml` is never edited: when it does not include the written file, the report says which
//! line to add and nothing is recorded in state (a managed object that no file declares would
//! be deprovisioned by the next plan).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::config::{self, Config};
use crate::error::Error;
use crate::fsx;
use crate::model::{name_key, LiveTenant};
use crate::plan::import::{import as merge, Declared, ImportInput, ImportTenant, Imported};
use crate::scim::Expected;

use super::tenants::Tenants;
use super::Workspace;

/// What to import, resolved from the flags.
pub struct ImportSettings {
    /// One tenant, or every one (merged into one file).
    pub tenant: Option<String>,
    /// Where to write [default: `imported/<tenant>.yaml` beside the configuration].
    pub out: Option<PathBuf>,
    /// Overwrite the file if it exists.
    pub force: bool,
    pub read: super::ReadSettings,
}

/// What an import wrote and recorded.
pub struct ImportReport {
    pub path: PathBuf,
    /// The tenants read, in words ("tenant `a`", "tenants `a`, `b`").
    pub tenants: String,
    pub users: usize,
    pub groups: usize,
    pub notes: Vec<String>,
    /// Objects the configuration declares already (the next plan adopts them).
    pub already_declared: usize,
    /// Whether the imported objects were recorded in state as managed.
    pub recorded: bool,
    /// When the configuration does not include the written file: what to add.
    pub not_included: Option<String>,
}

/// `zsc import`.
pub async fn import(
    ws: &Workspace,
    settings: &ImportSettings,
    config_path: &Path,
) -> Result<ImportReport, Error> {
    let config = &ws.config;
    let selected: Vec<String> = match &settings.tenant {
        Some(name) if config.tenants.contains_key(name) => vec![name.clone()],
        Some(name) => {
            let declared: Vec<String> = config.tenants.keys().map(|t| format!("`{t}`")).collect();
            return Err(Error::Refusal(format!(
                "unknown tenant `{name}` (declared: {})",
                declared.join(", ")
            )));
        }
        None => config.tenants.keys().cloned().collect(),
    };
    let path = settings.out.clone().unwrap_or_else(|| {
        let stem = match selected.as_slice() {
            [one] => one.clone(),
            _ => "all-tenants".to_owned(),
        };
        let path = config.dir.join("imported").join(format!("{stem}.yaml"));
        match path.strip_prefix(".") {
            Ok(relative) => relative.to_owned(),
            Err(_) => path,
        }
    });
    if path.exists() && !settings.force {
        return Err(Error::Refusal(format!(
            "`{}` exists; pass --force to overwrite it (or --out to write elsewhere)",
            path.display()
        )));
    }

    ws.locked(
        "import",
        import_locked(ws, settings, config_path, selected, path),
    )
    .await
}

async fn import_locked(
    ws: &Workspace,
    settings: &ImportSettings,
    config_path: &Path,
    selected: Vec<String>,
    path: PathBuf,
) -> Result<ImportReport, Error> {
    let config = &ws.config;
    let store = &ws.store;
    let mut state = store.load().await?.state;

    let tenants = Tenants::connect(config, &settings.read).await?;
    let live = tenants.read(&selected, |_| Expected::default()).await;
    tenants.shutdown().await?;
    let live = live?;

    let input = import_input(config, &selected, &live, &path);
    let imported = merge(&input);
    let header = format!(
        "Written by `zsc import` from {}.\nzsc manages everything declared here: edit it like any other file of desired state.",
        tenant_list(&selected)
    );
    let yaml = config::write::declarations_yaml(&header, &imported.users, &imported.groups);
    fsx::write_atomic(&path, yaml.as_bytes(), fsx::Mode::Shared)
        .map_err(|e| Error::file("write", &path, e))?;

    let mut report = ImportReport {
        path: path.clone(),
        tenants: tenant_list(&selected),
        users: imported.users.len(),
        groups: imported.groups.len(),
        notes: imported.notes.clone(),
        already_declared: imported.already_declared,
        recorded: false,
        not_included: None,
    };

    // Read the configuration again: the new file must validate, and be included.
    let reloaded = config::load(config_path).map_err(|e| {
        Error::Internal(format!(
            "the written file `{}` does not load with the configuration (please report this as a zsc bug):\n{e}",
            path.display()
        ))
    })?;
    if includes(&reloaded, &path) {
        record(&mut state, &imported);
        report.recorded = true;
    } else {
        report.not_included = Some(not_included_advice(config, &path));
    }
    // Also folds a journal an interrupted apply left.
    store.commit(&mut state).await?;
    Ok(report)
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// What to merge: the live tenants, and what the configuration declares outside `path` (a
/// file being overwritten does not count: its declarations are being replaced).
fn import_input<'a>(
    config: &'a Config,
    selected: &'a [String],
    live: &'a HashMap<String, LiveTenant>,
    path: &Path,
) -> ImportInput<'a> {
    let target = canonical(path);
    let from_target = |file: &str| path.exists() && canonical(Path::new(file)) == target;
    let mut declared_users: HashMap<String, Declared> = HashMap::new();
    let mut declared_groups: HashMap<String, Declared> = HashMap::new();
    for (tenant, desired) in &config.desired {
        for u in desired
            .users
            .iter()
            .filter(|u| !from_target(&u.origin.file))
        {
            let d = declared_users
                .entry(name_key(&u.user_name))
                .or_insert_with(|| Declared {
                    name: u.user_name.clone(),
                    tenants: BTreeSet::new(),
                    origin: u.origin.to_string(),
                });
            d.tenants.insert(tenant.clone());
        }
        for g in desired
            .groups
            .iter()
            .filter(|g| !from_target(&g.origin.file))
        {
            let names = std::iter::once(&g.name).chain(g.renamed_from.as_ref());
            for name in names {
                let d = declared_groups
                    .entry(name_key(name))
                    .or_insert_with(|| Declared {
                        name: g.name.clone(),
                        tenants: BTreeSet::new(),
                        origin: g.origin.to_string(),
                    });
                d.tenants.insert(tenant.clone());
            }
        }
    }
    ImportInput {
        tenants: selected
            .iter()
            .filter_map(|name| {
                let t = config.tenants.get(name)?;
                Some(ImportTenant {
                    name,
                    dialect: t.dialect,
                    live: live.get(name)?,
                    allowed_domains: &t.allowed_domains,
                })
            })
            .collect(),
        configured: config.tenants.keys().cloned().collect(),
        declared_users,
        declared_groups,
    }
}

fn record(state: &mut crate::state::State, imported: &Imported) {
    for (tenant, ops) in &imported.state_ops {
        for op in ops {
            state.apply(tenant, op);
        }
    }
}

fn tenant_list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.len() {
        1 => format!("tenant {}", quoted[0]),
        _ => format!("tenants {}", quoted.join(", ")),
    }
}

fn includes(config: &Config, path: &Path) -> bool {
    let target = canonical(path);
    config.files.iter().skip(1).any(|f| canonical(f) == target)
}

/// What to add to the main file so that it reads `path`, said plainly.
fn not_included_advice(config: &Config, path: &Path) -> String {
    let dir = canonical(&config.dir);
    let full = canonical(path);
    let pattern = match full.strip_prefix(&dir) {
        Ok(rel) => match rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(parent) => format!("{}/*.yaml", parent.display()),
            None => rel.display().to_string(),
        },
        Err(_) => full.display().to_string(),
    };
    // `*` inside a pattern needs no quotes; anything else odd does.
    let pattern = if config::write::scalar(&pattern.replace('*', "x")) == pattern.replace('*', "x")
    {
        pattern
    } else {
        config::write::scalar(&pattern)
    };
    let main = config.path.display();
    let has_include = std::fs::read_to_string(&config.path)
        .map(|text| text.lines().any(|l| l.starts_with("include:")))
        .unwrap_or(false);
    let how = if has_include {
        format!("add {pattern} to the `include:` list in {main}")
    } else {
        format!("add this line to {main}:\n\n    include: [{pattern}]\n")
    };
    format!(
        "{main} does not include `{}`, so zsc does not read it yet; {how}\n\
         Nothing was recorded in state: once the file is included, run `zsc import --force` again \
         (or `zsc apply`, which adopts them) so that zsc manages what it declares.",
        path.display()
    )
}
