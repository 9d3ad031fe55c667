//! One function per command, wiring config, state, clients, planner, executor and views.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use clap::CommandFactory;
use tokio::sync::watch;

use crate::apply::{self, ApplyOptions, Outcome, Recorder};
use crate::config::{self, Config};
use crate::model::LiveTenant;
use crate::plan::refresh::{live_from_state, refresh_tenant};
use crate::plan::{check_guards, Address, Limits, Plan, PlanMeta, TenantInput};
use crate::render::{self, Tone};
use crate::scim::Expected;
use crate::state::{Journal, State, StateOp, StateStore};

use super::args::{ApplyArgs, Cli, Command, EmulatorArgs, PlanArgs, RefreshArgs};
use super::output::Output;
use super::progress::Reporter;
use super::tenants::Tenants;
use super::{ExitStatus, Failure};

pub async fn dispatch(cli: &Cli, out: Output) -> Result<ExitStatus, Failure> {
    match &cli.command {
        Command::Validate => validate(cli, out),
        Command::Refresh(args) => refresh(cli, out, args).await,
        Command::Plan(args) => plan(cli, out, args).await,
        Command::Apply(args) => apply(cli, out, args).await,
        Command::Import(args) => super::import::import(cli, out, args).await,
        Command::Emulator(args) => emulator(out, args).await,
        Command::Show(args) => super::show::show(out, args),
        Command::State(args) => super::state_commands::dispatch(cli, out, args),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            let mut buf = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "zsc", &mut buf);
            out.print(&String::from_utf8_lossy(&buf));
            Ok(ExitStatus::Success)
        }
    }
}

pub(super) fn load_config(cli: &Cli, out: Output) -> Result<Config, Failure> {
    let config = config::load(&cli.global.config).map_err(|e| Failure(e.to_string()))?;
    for warning in config::dialect_checks::warnings(&config) {
        out.warn(&format!("{}\n  --> {}", warning.message, warning.origin));
    }
    Ok(config)
}

pub(super) fn state_store(cli: &Cli, config: &Config) -> StateStore {
    let path = cli
        .global
        .state
        .clone()
        .unwrap_or_else(|| config.dir.join(".zsc").join("state.json"));
    StateStore::new(path)
}

fn validate(cli: &Cli, out: Output) -> Result<ExitStatus, Failure> {
    let config = load_config(cli, out)?;
    let users: usize = config.desired.values().map(|t| t.users.len()).sum();
    let groups: usize = config.desired.values().map(|t| t.groups.len()).sum();
    out.print(&format!(
        "{} is valid: {}, {} across {}.\n",
        cli.global.config.display(),
        render::count(users, "user", "users"),
        render::count(groups, "group", "groups"),
        render::count(config.tenants.len(), "tenant", "tenants"),
    ));
    Ok(ExitStatus::Success)
}

/// Read every tenant concurrently.
async fn read_all(
    config: &Config,
    state: &State,
    tenants: &Tenants,
    accept_gap: bool,
) -> Result<HashMap<String, LiveTenant>, Failure> {
    let mut reads = tokio::task::JoinSet::new();
    for name in config.tenants.keys() {
        let client = tenants.clients[name].clone();
        let mut expected = expected_names(config, state, name);
        expected.accept_gap = accept_gap;
        let name = name.clone();
        reads.spawn(async move {
            let result = client.read_tenant(&expected).await;
            (name, result)
        });
    }
    let mut live = HashMap::new();
    let mut errors = Vec::new();
    while let Some(joined) = reads.join_next().await {
        match joined {
            Ok((name, Ok(tenant))) => {
                live.insert(name, tenant);
            }
            Ok((name, Err(e))) => errors.push(format!("refreshing tenant `{name}`: {e}")),
            Err(e) => errors.push(format!("a refresh worker failed: {e}")),
        }
    }
    if !errors.is_empty() {
        errors.sort();
        return Err(Failure(errors.join("\nerror: ")));
    }
    Ok(live)
}

/// What a refresh of `tenant` must account for even if a listing comes back short: the
/// declared names (and old names), and the ids state manages.
fn expected_names(config: &Config, state: &State, tenant: &str) -> Expected {
    let mut expected = Expected::default();
    if let Some(desired) = config.desired.get(tenant) {
        for u in &desired.users {
            expected.users.push(u.user_name.clone());
            expected.users.extend(u.renamed_from.iter().cloned());
        }
        for g in &desired.groups {
            expected.groups.push(g.name.clone());
            expected.groups.extend(g.renamed_from.iter().cloned());
        }
    }
    if let Some(managed) = state.tenants.get(tenant) {
        expected.user_ids = managed.users.values().map(|u| u.id.clone()).collect();
        expected.group_ids = managed.groups.values().map(|g| g.id.clone()).collect();
    }
    for names in [&mut expected.users, &mut expected.groups] {
        names.sort_by_cached_key(|n| crate::model::name_key(n));
        names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    }
    expected
}

/// Replace each tenant's managed objects with what live holds now.
fn fold_refresh(state: &mut State, config: &Config, live: &HashMap<String, LiveTenant>) {
    for name in config.tenants.keys() {
        let Some(tenant_live) = live.get(name) else {
            continue;
        };
        let refreshed = state
            .tenants
            .get(name)
            .map(|managed| refresh_tenant(managed, tenant_live))
            .unwrap_or_default();
        if refreshed.users.is_empty() && refreshed.groups.is_empty() {
            state.tenants.remove(name);
        } else {
            state.tenants.insert(name.clone(), refreshed);
        }
    }
}

async fn refresh(cli: &Cli, out: Output, args: &RefreshArgs) -> Result<ExitStatus, Failure> {
    let config = load_config(cli, out)?;
    let store = state_store(cli, &config);
    let _lock = store.lock("refresh")?;
    let loaded = store.load()?;
    let mut state = loaded.state;
    let tenants = Tenants::connect(&config, args.parallelism).await?;
    let live = read_all(&config, &state, &tenants, args.accept_listing_gap).await;
    tenants.shutdown().await?;
    let live = live?;
    let before = state.clone();
    fold_refresh(&mut state, &config, &live);
    if state.tenants != before.tenants || loaded.replayed > 0 {
        if loaded.replayed == 0 {
            state.serial += 1;
        }
        store.save(&state)?;
    }
    let mut names: Vec<&String> = live.keys().collect();
    names.sort();
    for name in names {
        let t = &live[name];
        out.print(&format!(
            "{name}: refreshed {}, {}\n",
            render::count(t.users.len(), "user", "users"),
            render::count(t.groups.len(), "group", "groups")
        ));
    }
    Ok(ExitStatus::Success)
}

/// How to make a plan, as the flags say.
struct PlanSettings<'a> {
    refresh: bool,
    targets: &'a [Address],
    limits: Limits,
    accept_gap: bool,
}

/// Refresh (unless told not to) and plan. Returns the plan and the refreshed state. The plan
/// compares live with state as it was recorded, so that what changed outside zsc shows.
async fn compute_plan(
    config: &Config,
    state: &State,
    tenants: &Tenants,
    settings: &PlanSettings<'_>,
) -> Result<(Plan, State), Failure> {
    let mut refreshed = state.clone();
    let live: HashMap<String, LiveTenant> = if settings.refresh {
        let live = read_all(config, state, tenants, settings.accept_gap).await?;
        fold_refresh(&mut refreshed, config, &live);
        live
    } else {
        config
            .tenants
            .keys()
            .map(|name| {
                let managed = state.tenants.get(name).cloned().unwrap_or_default();
                (name.clone(), live_from_state(&managed))
            })
            .collect()
    };
    let empty_state = crate::state::TenantState::default();
    let empty_desired = crate::model::DesiredTenant::default();
    let inputs: Vec<TenantInput<'_>> = config
        .tenants
        .iter()
        .map(|(name, tenant)| TenantInput {
            name,
            dialect: tenant.dialect,
            desired: config.desired.get(name).unwrap_or(&empty_desired),
            managed: state.tenants.get(name).unwrap_or(&empty_state),
            live: &live[name],
            remove_user_action: config.defaults.remove_user_action,
        })
        .collect();
    let mut plan = Plan::build(
        PlanMeta {
            lineage: state.lineage.clone(),
            serial: state.serial,
            config_fingerprint: config.fingerprint(),
            refreshed: settings.refresh,
        },
        &inputs,
    );
    drop(inputs);
    plan.retain_targets(settings.targets);
    plan.warnings
        .extend(crate::plan::warnings(&plan, settings.limits));
    plan.limits = Some(settings.limits);
    Ok((plan, refreshed))
}

/// The destroy limits from the configuration, as raised for this run.
fn limits(config: &Config, max_destroy: Option<usize>, max_destroy_percent: Option<f64>) -> Limits {
    Limits {
        max_destroy: max_destroy.unwrap_or(config.defaults.max_destroy),
        max_destroy_percent: max_destroy_percent.unwrap_or(config.defaults.max_destroy_percent),
    }
}

fn guard(plan: &Plan, limits: Limits) -> Result<(), Failure> {
    let violations = check_guards(plan, limits);
    if violations.is_empty() {
        return Ok(());
    }
    let text: Vec<String> = violations.iter().map(ToString::to_string).collect();
    Err(Failure(format!(
        "{}\nnothing was changed.",
        text.join("\nerror: ")
    )))
}

async fn plan(cli: &Cli, out: Output, args: &PlanArgs) -> Result<ExitStatus, Failure> {
    let config = load_config(cli, out)?;
    let store = state_store(cli, &config);
    let state = store.load()?.state;
    let targets = super::targets::resolve(&args.targets, &config, &state)?;
    let tenants = Tenants::connect(&config, args.parallelism).await?;
    let settings = PlanSettings {
        refresh: args.refresh,
        targets: &targets,
        limits: limits(&config, args.max_destroy, args.max_destroy_percent),
        accept_gap: args.accept_listing_gap,
    };
    let result = compute_plan(&config, &state, &tenants, &settings).await;
    tenants.shutdown().await?;
    let (plan, _) = result?;

    out.print(&super::show::render_plan(&plan, args.format, out)?);
    guard(&plan, settings.limits)?;
    if let Some(path) = &args.out {
        write_plan_file(path, &plan)?;
        out.info(&format!(
            "\nSaved the plan to {}; apply exactly it with: zsc apply {}",
            path.display(),
            path.display()
        ));
    }
    Ok(if args.detailed_exitcode && !plan.is_empty() {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    })
}

fn write_plan_file(path: &Path, plan: &Plan) -> Result<(), Failure> {
    use std::os::unix::fs::OpenOptionsExt;
    let json = serde_json::to_vec_pretty(plan).map_err(|e| Failure(e.to_string()))?;
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&json)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        Failure(format!(
            "cannot write the plan to `{}`: {e}",
            path.display()
        ))
    })
}

pub(super) fn read_plan_file(path: &Path) -> Result<Plan, Failure> {
    let bytes = std::fs::read(path)
        .map_err(|e| Failure(format!("cannot read the plan `{}`: {e}", path.display())))?;
    let plan: Plan = serde_json::from_slice(&bytes)
        .map_err(|e| Failure(format!("`{}` is not a zsc plan file: {e}", path.display())))?;
    if plan.format_version != crate::plan::PLAN_FORMAT_VERSION {
        return Err(Failure(format!(
            "`{}` has plan format {}; this zsc reads format {}",
            path.display(),
            plan.format_version,
            crate::plan::PLAN_FORMAT_VERSION
        )));
    }
    Ok(plan)
}

/// Records into the journal; the state copy is updated by the executor.
struct JournalRecorder {
    journal: Journal,
}

impl Recorder for JournalRecorder {
    fn record(&mut self, entries: &[(&str, &[StateOp])]) -> Result<(), String> {
        self.journal.record_all(entries).map_err(|e| e.to_string())
    }
}

async fn apply(cli: &Cli, out: Output, args: &ApplyArgs) -> Result<ExitStatus, Failure> {
    let config = load_config(cli, out)?;
    let store = state_store(cli, &config);
    let _lock = store.lock("apply")?;
    let loaded = store.load()?;
    let mut state = loaded.state;
    let existed = loaded.existed;
    if loaded.replayed > 0 || store.has_journal() {
        // An earlier apply was cut off: fold what it recorded (or the empty journal it left)
        // before doing anything.
        store.save(&state)?;
        if loaded.replayed > 0 {
            out.info(&format!(
                "Recovered {} from an interrupted apply.",
                render::count(loaded.replayed, "recorded change", "recorded changes")
            ));
        }
    }
    let tenants = Tenants::connect(&config, args.parallelism).await?;
    let result = apply_with(out, args, &config, &store, (&mut state, existed), &tenants).await;
    let shutdown = tenants.shutdown().await;
    let status = result?;
    shutdown?;
    Ok(status)
}

async fn apply_with(
    out: Output,
    args: &ApplyArgs,
    config: &Config,
    store: &StateStore,
    (state, existed): (&mut State, bool),
    tenants: &Tenants,
) -> Result<ExitStatus, Failure> {
    let targets = super::targets::resolve(&args.targets, config, state)?;
    let plan = match &args.plan_file {
        Some(path) => {
            let mut plan = read_plan_file(path)?;
            if !existed && plan.serial == 0 {
                // Planned before any state existed, applied before any exists: the plan's
                // lineage starts this state's history.
                state.lineage = plan.lineage.clone();
            }
            if plan.lineage != state.lineage || plan.serial != state.serial {
                return Err(Failure(format!(
                    "the saved plan `{}` is stale: it was made from state serial {} but the state is now at serial {}{}; run `zsc plan -o {}` again",
                    path.display(),
                    plan.serial,
                    state.serial,
                    if plan.lineage != state.lineage { " of another lineage" } else { "" },
                    path.display()
                )));
            }
            if plan.config_fingerprint != config.fingerprint() {
                return Err(Failure(format!(
                    "the saved plan `{}` is stale: the configuration changed since it was made; run `zsc plan -o {}` again",
                    path.display(),
                    path.display()
                )));
            }
            plan.retain_targets(&targets);
            plan
        }
        None => {
            let settings = PlanSettings {
                refresh: true,
                targets: &targets,
                limits: limits(config, args.max_destroy, args.max_destroy_percent),
                accept_gap: args.accept_listing_gap,
            };
            let (plan, refreshed) = compute_plan(config, state, tenants, &settings).await?;
            // Keep what the refresh learned, even if nothing else happens.
            if refreshed.tenants != state.tenants {
                *state = refreshed;
                state.serial += 1;
                store.save(state)?;
            }
            out.print(&render::text::plan(&plan, out.out));
            let mut plan = plan;
            plan.serial = state.serial;
            plan
        }
    };
    // A saved plan is held to the limits it was made with, unless this run raises them.
    let base = plan.limits.unwrap_or_else(|| limits(config, None, None));
    let limits = Limits {
        max_destroy: args.max_destroy.unwrap_or(base.max_destroy),
        max_destroy_percent: args.max_destroy_percent.unwrap_or(base.max_destroy_percent),
    };
    guard(&plan, limits)?;
    if plan.is_empty() {
        if args.plan_file.is_some() {
            out.print("No changes in the saved plan.\n");
        }
        return Ok(ExitStatus::Success);
    }
    if args.plan_file.is_none() && !args.auto_approve {
        confirm(out)?;
    }

    let (interrupt_tx, interrupt_rx) = watch::channel(false);
    let signals = tokio::spawn(watch_signals(interrupt_tx, out));
    let journal = store.open_journal(state)?;
    let mut recorder = JournalRecorder { journal };
    let reporter = Arc::new(Reporter::new(out.bars, out.err, out.quiet));
    let parallelism = args.parallelism.unwrap_or_else(|| {
        config
            .tenants
            .values()
            .map(|t| {
                t.parallelism
                    .unwrap_or(t.dialect.spec().default_parallelism)
            })
            .sum::<usize>()
            .max(1)
    });
    let report = apply::apply(
        &plan,
        &tenants.clients,
        state,
        &mut recorder,
        &ApplyOptions {
            parallelism,
            now: crate::state::now(),
        },
        reporter.clone(),
        interrupt_rx,
    )
    .await
    .map_err(|e| Failure(e.to_string()))?;
    signals.abort();
    reporter.finish();

    state.serial += 1;
    store.save(state)?;
    drop(recorder);

    out.print(&apply_summary(&plan, &report, out));
    if report.interrupted {
        return Ok(ExitStatus::Interrupted);
    }
    if let Some(e) = &report.record_error {
        return Err(Failure(format!(
            "could not record a completed change, so the apply stopped: {e}"
        )));
    }
    Ok(if report.all_done() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

fn apply_summary(plan: &Plan, report: &apply::ApplyReport, out: Output) -> String {
    let done = report.count(Outcome::is_done);
    let failed = report.count(|o| matches!(o, Outcome::Failed(_)));
    let skipped = report.count(|o| matches!(o, Outcome::Skipped(_)));
    let not_started = report.count(|o| matches!(o, Outcome::NotStarted));
    let mut text = String::new();
    let failures: Vec<String> = plan
        .changes
        .iter()
        .zip(&report.outcomes)
        .filter_map(|(c, o)| match o {
            Outcome::Failed(e) => Some(format!("  {}: {e}", c.address)),
            Outcome::Skipped(why) => Some(format!("  {} skipped: {why}", c.address)),
            _ => None,
        })
        .collect();
    if !failures.is_empty() {
        text.push_str(&out.out.paint(Tone::Error, "\nNot applied:\n"));
        text.push_str(&failures.join("\n"));
        text.push('\n');
    }
    let head = if report.interrupted {
        out.out.paint(Tone::Warning, "Apply interrupted:")
    } else if failed + skipped > 0 {
        out.out.paint(Tone::Error, "Apply finished with failures:")
    } else {
        out.out.paint(Tone::Create, "Apply complete!")
    };
    text.push_str(&format!(
        "\n{head} {} done, {} failed, {} skipped{} in {:.1}s ({}).\n",
        render::thousands(done),
        render::thousands(failed),
        render::thousands(skipped),
        if not_started > 0 {
            format!(", {} not started", render::thousands(not_started))
        } else {
            String::new()
        },
        report.elapsed.as_secs_f64(),
        render::count(report.requests as usize, "request", "requests"),
    ));
    if failed + skipped + not_started > 0 {
        text.push_str("State holds everything that was done; run `zsc apply` again to finish.\n");
    }
    text
}

/// Ask for `yes` on the terminal; refuse without one (CI must say --auto-approve).
fn confirm(out: Output) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure(
            "refusing to apply without confirmation: no terminal to ask on; \
             review the plan and pass --auto-approve, or apply a saved plan file"
                .to_owned(),
        ));
    }
    eprint!(
        "\n{} Only 'yes' will be accepted to approve.\n  Enter a value: ",
        out.err
            .paint(Tone::Heading, "Do you want to apply these changes?")
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Failure("apply cancelled; nothing was changed".to_owned()))
    }
}

/// First Ctrl-C or SIGTERM: stop scheduling, let in-flight requests finish. Second: leave now
/// (everything completed is already in the journal, which the next run folds in).
async fn watch_signals(tx: watch::Sender<bool>, out: Output) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    next_signal(&mut term).await;
    out.warn("interrupted: finishing the requests in flight, then saving state (interrupt again to stop now)");
    let _ = tx.send(true);
    next_signal(&mut term).await;
    out.warn("stopped; completed changes are in the journal and will be recovered by the next run");
    std::process::exit(i32::from(ExitStatus::Interrupted.code()));
}

/// The next Ctrl-C or SIGTERM.
async fn next_signal(term: &mut Option<tokio::signal::unix::Signal>) {
    match term {
        Some(term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn emulator(out: Output, args: &EmulatorArgs) -> Result<ExitStatus, Failure> {
    if !args.listen.ip().is_loopback() {
        return Err(Failure(format!(
            "refusing to listen on `{}`: the emulator serves loopback addresses only",
            args.listen
        )));
    }
    let token = std::env::var(&args.token_env)
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Failure(format!(
                "set the environment variable `{}` to the bearer token clients must send",
                args.token_env
            ))
        })?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| Failure(format!("cannot listen on `{}`: {e}", args.listen)))?;
    let options = crate::emulator::EmulatorOptions {
        dialect: args.dialect,
        token,
        data_file: args.data.clone(),
        faults: args.quirks.iter().fold(
            crate::emulator::Faults {
                latency_ms: args.latency_ms,
                error_rate: args.error_rate,
                throttle_rate: args.throttle_rate,
                drop_rate: args.drop_rate,
                rate_limit: args.rate_limit,
                omit_from_lists: args.omit_from_lists,
                ..crate::emulator::Faults::default()
            },
            |faults, quirk| faults.with_quirk(*quirk),
        ),
        domains: args.domains.clone(),
        admin_users: Vec::new(),
    };
    let handle = crate::emulator::serve(listener, options)
        .await
        .map_err(|e| Failure(e.to_string()))?;
    out.print(&format!("{}\n", handle.base_url()));
    out.info(&format!(
        "serving the {} emulator; token from `{}`; Ctrl-C to stop",
        args.dialect, args.token_env
    ));
    let _ = tokio::signal::ctrl_c().await;
    handle
        .shutdown()
        .await
        .map_err(|e| Failure(e.to_string()))?;
    Ok(ExitStatus::Success)
}
