//! `zsc import`: read tenants live, write YAML that declares what they hold, and record it in
//! state as managed, so that the next plan is empty.
//!
//! The merge itself is pure (`plan::import`); this file reads, writes and explains. The user's
//! `zsc.yaml` is never edited: when it does not include the written file, zsc says which line
//! to add and records nothing in state (a managed object that no file declares would be
//! deprovisioned by the next plan).

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::{self, Config};
use crate::model::{name_key, LiveTenant};
use crate::plan::import::{import as merge, Declared, ImportInput, ImportTenant, Imported};
use crate::render;
use crate::scim::Expected;

use super::args::{Cli, ImportArgs};
use super::commands::{load_config, state_store};
use super::output::Output;
use super::tenants::Tenants;
use super::{ExitStatus, Failure};

pub async fn import(cli: &Cli, out: Output, args: &ImportArgs) -> Result<ExitStatus, Failure> {
    let config = load_config(cli, out)?;
    let selected: Vec<String> = match &args.tenant {
        Some(name) if config.tenants.contains_key(name) => vec![name.clone()],
        Some(name) => {
            let declared: Vec<String> = config.tenants.keys().map(|t| format!("`{t}`")).collect();
            return Err(Failure(format!(
                "unknown tenant `{name}` (declared: {})",
                declared.join(", ")
            )));
        }
        None => config.tenants.keys().cloned().collect(),
    };
    let path = args.out.clone().unwrap_or_else(|| {
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
    if path.exists() && !args.force {
        return Err(Failure(format!(
            "`{}` exists; pass --force to overwrite it (or --out to write elsewhere)",
            path.display()
        )));
    }

    let store = state_store(cli, &config);
    let _lock = store.lock("import")?;
    let loaded = store.load()?;
    let mut state = loaded.state;

    let tenants = Tenants::connect(&config, args.parallelism).await?;
    let live = read_selected(&tenants, &selected).await;
    tenants.shutdown().await?;
    let live = live?;

    let input = import_input(&config, &selected, &live, &path);
    let imported = merge(&input);
    let header = format!(
        "Written by `zsc import` from {}.\nzsc manages everything declared here: edit it like any other file of desired state.",
        tenant_list(&selected)
    );
    let yaml = config::write::declarations_yaml(&header, &imported.users, &imported.groups);
    write_file(&path, &yaml)?;

    for note in &imported.notes {
        out.info(&format!("note: {note}"));
    }
    let summary = format!(
        "Imported {} and {} from {} into {}.\n",
        render::count(imported.users.len(), "user", "users"),
        render::count(imported.groups.len(), "group", "groups"),
        tenant_list(&selected),
        path.display()
    );
    out.print(&summary);
    if imported.already_declared > 0 {
        out.print(&format!(
            "{} already declared in the configuration; `zsc plan` adopts them.\n",
            render::count(imported.already_declared, "object is", "objects are")
        ));
    }

    // Read the configuration again: the new file must validate, and be included.
    let reloaded = config::load(&cli.global.config).map_err(|e| {
        Failure(format!(
            "the written file `{}` does not load with the configuration (please report this as a zsc bug):\n{e}",
            path.display()
        ))
    })?;
    if !includes(&reloaded, &path) {
        out.warn(&not_included_advice(&config, &path));
        if loaded.replayed > 0 {
            state.serial += 1;
            store.save(&state)?;
        }
        return Ok(ExitStatus::Success);
    }
    record(&mut state, &imported);
    if !imported.state_ops.is_empty() || loaded.replayed > 0 {
        state.serial += 1;
        store.save(&state)?;
    }
    out.print(&format!(
        "Recorded them in state ({}); `zsc plan` now reports no changes for them.\n",
        store.path().display()
    ));
    Ok(ExitStatus::Success)
}

/// Read the selected tenants concurrently.
async fn read_selected(
    tenants: &Tenants,
    selected: &[String],
) -> Result<HashMap<String, LiveTenant>, Failure> {
    let mut reads = tokio::task::JoinSet::new();
    for name in selected {
        let client = tenants.clients[name].clone();
        let name = name.clone();
        reads.spawn(async move { (name, client.read_tenant(&Expected::default()).await) });
    }
    let mut live = HashMap::new();
    let mut errors = Vec::new();
    while let Some(joined) = reads.join_next().await {
        match joined {
            Ok((name, Ok(tenant))) => {
                live.insert(name, tenant);
            }
            Ok((name, Err(e))) => errors.push(format!("reading tenant `{name}`: {e}")),
            Err(e) => errors.push(format!("a reader failed: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(live)
    } else {
        errors.sort();
        Err(Failure(format!(
            "{}\nnothing was written.",
            errors.join("\nerror: ")
        )))
    }
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

/// Write atomically: a temp file beside it, then rename. Parent directories are created.
fn write_file(path: &Path, text: &str) -> Result<(), Failure> {
    let fail = |e: std::io::Error| Failure(format!("cannot write `{}`: {e}", path.display()));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let tmp = path.with_extension("yaml.tmp");
    let mut file = std::fs::File::create(&tmp).map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
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
