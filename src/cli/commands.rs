//! One thin function per command: resolve the flags, call the workflow in [`crate::ops`], hand
//! the result to a view in [`crate::render`], and say how the command ends.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use clap::CommandFactory;
use tokio::sync::watch;

use crate::apply::Progress;
use crate::config::{self, BackendOverride};
use crate::error::Error;
use crate::ops::apply::{ApplyHooks, ApplySettings};
use crate::ops::import::ImportSettings;
use crate::ops::plan::PlanSettings;
use crate::ops::state::{MigrateFrom, Record, Unlocked};
use crate::ops::{self, BackendSettings, Workspace};
use crate::plan::Plan;
use crate::render::{self, Tone};
use crate::state::backend::Pushed;

use super::args::{
    ApplyArgs, Cli, Command, DoctorArgs, EmulatorArgs, Format, ImportArgs, PlanArgs, StateCommand,
    ValidateArgs, ValidateFormat,
};
use super::output::Output;
use super::progress::{ReadReporter, Reporter};
use super::ExitStatus;

pub async fn dispatch(cli: &Cli, out: Output) -> Result<ExitStatus, Error> {
    match &cli.command {
        Command::Validate(args) => validate(cli, out, args),
        Command::Refresh(args) => refresh(cli, out, args).await,
        Command::Plan(args) => plan(cli, out, args).await,
        Command::Apply(args) => apply(cli, out, args).await,
        Command::Import(args) => import(cli, out, args).await,
        Command::Emulator(args) => emulator(out, args).await,
        Command::Doctor(args) => doctor(cli, out, args).await,
        Command::Show(args) => match &args.plan_file {
            Some(path) => {
                let plan = ops::plan::read(path)?;
                out.print(&render::plan(
                    &plan,
                    args.format.view(),
                    out.out,
                    &context(),
                ));
                Ok(ExitStatus::Success)
            }
            None => {
                let ws = workspace(cli, out)?;
                let state = ops::state::list(&ws.store).await?;
                out.print(&render::state::summary(&state, &ws.store.describe()));
                Ok(ExitStatus::Success)
            }
        },
        Command::Version => {
            out.print(&format!("zsc {}\n", env!("CARGO_PKG_VERSION")));
            Ok(ExitStatus::Success)
        }
        Command::State(command) => state(cli, out, command).await,
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            let mut buf = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "zsc", &mut buf);
            out.print(&String::from_utf8_lossy(&buf));
            Ok(ExitStatus::Success)
        }
    }
}

/// Read progress for a command that reads tenants.
struct Reading(Arc<ReadReporter>);

impl Reading {
    fn sink(&self) -> crate::scim::ProgressSink {
        crate::scim::ProgressSink(self.0.clone())
    }

    fn finish(&self) {
        self.0.finish();
    }
}

fn reader(out: Output) -> Reading {
    Reading(Arc::new(ReadReporter::new(out.bars, out.quiet)))
}

/// The configuration and state backend, with the configuration's warnings said.
fn workspace(cli: &Cli, out: Output) -> Result<Workspace, Error> {
    let ws = load(cli, out, true)?;
    warn_about(&ws, out);
    Ok(ws)
}

/// The configuration and state backend as the global flags say; `check_tokens`: whether every
/// token must be available now.
fn load(cli: &Cli, out: Output, check_tokens: bool) -> Result<Workspace, Error> {
    let settings = BackendSettings {
        overrides: backend_overrides(&cli.global.backend_config, "--backend-config")?,
        lock_timeout: cli.global.lock_timeout.unwrap_or_default(),
    };
    let mut ws = Workspace::load_with(
        &cli.global.config,
        cli.global.state.as_deref(),
        &settings,
        check_tokens,
    )?;
    ws.lock_waiting = Box::new(move |holder| {
        out.info(&format!(
            "Waiting for the state lock, held by {holder} (up to --lock-timeout)..."
        ));
    });
    Ok(ws)
}

fn warn_about(ws: &Workspace, out: Output) {
    for warning in &ws.warnings {
        out.warn(&format!("{}\n  --> {}", warning.message, warning.origin));
        out.annotate("warning", &warning.origin, &warning.message);
    }
}

/// `zsc doctor`: read-only; the report to stdout, exit 1 when a check failed.
async fn doctor(cli: &Cli, out: Output, args: &DoctorArgs) -> Result<ExitStatus, Error> {
    let ws = workspace(cli, out)?;
    let report = ops::doctor::doctor(&ws, args.tenant.as_deref()).await?;
    out.print(&match args.format {
        ValidateFormat::Json => render::doctor::json(&report),
        ValidateFormat::Text => render::doctor::text(&report, out.out),
    });
    Ok(if report.failed() {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

/// `KEY=VALUE` flags as backend overrides, each naming the flag that gave it.
fn backend_overrides(given: &[String], flag: &str) -> Result<Vec<BackendOverride>, Error> {
    given
        .iter()
        .map(|text| {
            config::backend::parse_override(text)
                .map(|mut o| {
                    o.source = format!("{flag} {}", o.key);
                    o
                })
                .map_err(|e| Error::Refusal(e.replace("--backend-config", flag)))
        })
        .collect()
}

fn validate(cli: &Cli, out: Output, args: &ValidateArgs) -> Result<ExitStatus, Error> {
    let loaded = load(cli, out, false);
    if args.format == ValidateFormat::Json {
        let outcome = match &loaded {
            Ok(ws) => {
                let v = ops::validate(ws);
                Ok((
                    render::validation::Counts {
                        users: v.users,
                        groups: v.groups,
                        tenants: v.tenants,
                    },
                    ws.warnings.as_slice(),
                ))
            }
            Err(e) => Err(e),
        };
        let (document, status) = render::validation::json(&cli.global.config, outcome);
        out.print(&document);
        return Ok(if status {
            ExitStatus::Success
        } else {
            ExitStatus::Failure
        });
    }
    let ws = loaded?;
    warn_about(&ws, out);
    let v = ops::validate(&ws);
    out.print(&format!(
        "{} is valid: {}, {} across {}.\n",
        cli.global.config.display(),
        render::count(v.users, "user", "users"),
        render::count(v.groups, "group", "groups"),
        render::count(v.tenants, "tenant", "tenants"),
    ));
    Ok(ExitStatus::Success)
}

async fn refresh(
    cli: &Cli,
    out: Output,
    args: &super::args::RefreshArgs,
) -> Result<ExitStatus, Error> {
    let ws = workspace(cli, out)?;
    let reading = reader(out);
    let refreshed = ops::refresh::refresh(
        &ws,
        &args.read.settings(Some(reading.sink())),
        &args.guards.flags(),
    )
    .await;
    reading.finish();
    let refreshed = refreshed?;
    for warning in &refreshed.warnings {
        out.warn(warning);
    }
    for (name, users, groups) in &refreshed.tenants {
        out.print(&format!(
            "{name}: refreshed {}, {}\n",
            render::count(*users, "user", "users"),
            render::count(*groups, "group", "groups")
        ));
    }
    Ok(ExitStatus::Success)
}

/// Where a pull-request comment comes from: the CI's commit, run and time (see
/// [`render::markdown::Context`]).
fn context() -> render::markdown::Context {
    render::markdown::Context::from_vars(|name| std::env::var(name).ok())
}

async fn plan(cli: &Cli, out: Output, args: &PlanArgs) -> Result<ExitStatus, Error> {
    let result = plan_or_fail(cli, out, args).await;
    if let (Err(error), Format::Markdown) = (&result, args.format) {
        // A pull request still gets a comment saying what failed (a refused plan has had
        // its own); the error goes to stderr and the exit code says so as always.
        if !matches!(error, Error::Refused(_) | Error::Interrupted) {
            let message = match error.message() {
                Some(crate::error::Message::Diagnostics(text)) => text,
                _ => format!("error: {error}"),
            };
            out.print(&render::markdown::failed(
                &render::markdown::Failed::Error { message: &message },
                &context(),
            ));
        }
    }
    result
}

async fn plan_or_fail(cli: &Cli, out: Output, args: &PlanArgs) -> Result<ExitStatus, Error> {
    let ws = workspace(cli, out)?;
    let state = ws.store.load().await?.state;
    let (refresh, refresh_mode) = crate::cli::args::RefreshArg::resolve(args.refresh);
    let settings = PlanSettings {
        refresh,
        refresh_mode,
        targets: ops::targets::resolve(&args.targets, &ws.config, &state)?,
        limits: ws.limits(&args.guards.flags()),
        accept_listing_gap: args.read.accept_listing_gap,
        access: args.access.settings(),
    };
    let reading = reader(out);
    let planned = ops::plan::plan(
        &ws,
        &settings,
        &args.read.settings(Some(reading.sink())),
        args.out.as_deref(),
    )
    .await;
    reading.finish();
    let planned = planned?;
    match (&planned.refused, args.format) {
        (Some(Error::Refused(violations)), Format::Markdown) => {
            out.print(&render::markdown::failed(
                &render::markdown::Failed::Refused {
                    plan: &planned.plan,
                    violations,
                },
                &context(),
            ))
        }
        _ => out.print(&render::plan(
            &planned.plan,
            args.format.view(),
            out.out,
            &context(),
        )),
    }
    if let Some(refused) = planned.refused {
        return Err(refused);
    }
    if let Some(path) = &planned.saved {
        out.info(&format!(
            "\nSaved the plan to {}; apply exactly it with: zsc apply {}",
            path.display(),
            path.display()
        ));
    }
    Ok(if args.detailed_exitcode && !planned.plan.is_empty() {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    })
}

async fn apply(cli: &Cli, out: Output, args: &ApplyArgs) -> Result<ExitStatus, Error> {
    let ws = workspace(cli, out)?;
    let state = ws.store.load().await?.state;
    let (refresh, refresh_mode) = crate::cli::args::RefreshArg::resolve(args.refresh);
    let settings = ApplySettings {
        plan_file: args.plan_file.clone(),
        targets: ops::targets::resolve(&args.targets, &ws.config, &state)?,
        refresh,
        // Apply reads everything unless told otherwise, whatever the tenant's `refresh:`.
        refresh_mode: refresh_mode.or(Some(crate::config::RefreshMode::Full)),
        limits: args.guards.flags(),
        read: args.read.settings(None),
        access: args.access.settings(),
    };
    drop(state);
    let reading = reader(out);
    let settings = ApplySettings {
        read: crate::ops::ReadSettings {
            progress: Some(reading.sink()),
            ..settings.read
        },
        ..settings
    };
    let hooks = Hooks {
        out,
        reading,
        auto_approve: args.auto_approve,
        reporter: Arc::new(Reporter::new(out.bars, out.err, out.quiet)),
        signals: std::sync::Mutex::new(None),
    };
    let applied = ops::apply::apply(&ws, &settings, &hooks).await;
    hooks.stop_watching();
    let applied = applied?;
    match &applied.report {
        None if applied.from_file => out.print("No changes in the saved plan.\n"),
        None => {}
        Some(report) => {
            hooks.reporter.finish();
            out.print(&render::apply::summary(&applied.plan, report, out.out));
        }
    }
    applied.result()?;
    Ok(ExitStatus::Success)
}

/// The command line's side of an apply: the plan on stdout, the question on the terminal,
/// progress on stderr, Ctrl-C and SIGTERM.
struct Hooks {
    out: Output,
    reading: Reading,
    auto_approve: bool,
    reporter: Arc<Reporter>,
    signals: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Hooks {
    fn stop_watching(&self) {
        if let Some(task) = self
            .signals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

impl ApplyHooks for Hooks {
    fn recovered(&self, changes: usize) {
        self.out.info(&format!(
            "Recovered {} from an interrupted apply.",
            render::count(changes, "recorded change", "recorded changes")
        ));
    }

    fn planned(&self, plan: &Plan) {
        self.reading.finish();
        self.out.print(&render::text::plan(plan, self.out.out));
    }

    fn confirm(&self) -> Result<(), Error> {
        if self.auto_approve {
            return Ok(());
        }
        confirm(self.out)
    }

    fn progress(&self) -> Arc<dyn Progress> {
        self.reporter.clone()
    }

    fn interrupt(&self) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(watch_signals(tx, self.out));
        *self.signals.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        rx
    }
}

/// Ask for `yes` on the terminal; refuse without one (CI must say --auto-approve).
fn confirm(out: Output) -> Result<(), Error> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::Refusal(
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
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::file("read the answer from", "stdin", e))?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Error::Refusal(
            "apply cancelled; nothing was changed".to_owned(),
        ))
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

async fn import(cli: &Cli, out: Output, args: &ImportArgs) -> Result<ExitStatus, Error> {
    let ws = workspace(cli, out)?;
    let settings = ImportSettings {
        tenant: args.tenant.clone(),
        out: args.out.clone(),
        force: args.force,
        read: crate::ops::ReadSettings {
            parallelism: args.parallelism,
            ..Default::default()
        },
    };
    let report = ops::import::import(&ws, &settings, &cli.global.config).await?;
    for note in &report.notes {
        out.info(&format!("note: {note}"));
    }
    out.print(&format!(
        "Imported {} and {} from {} into {}.\n",
        render::count(report.users, "user", "users"),
        render::count(report.groups, "group", "groups"),
        report.tenants,
        report.path.display()
    ));
    if report.already_declared > 0 {
        out.print(&format!(
            "{} already declared in the configuration; `zsc plan` adopts them.\n",
            render::count(report.already_declared, "object is", "objects are")
        ));
    }
    match &report.not_included {
        Some(advice) => out.warn(advice),
        None => out.print(&format!(
            "Recorded them in state ({}); `zsc plan` now reports no changes for them.\n",
            ws.store.describe()
        )),
    }
    Ok(ExitStatus::Success)
}

async fn state(cli: &Cli, out: Output, command: &StateCommand) -> Result<ExitStatus, Error> {
    let ws = workspace(cli, out)?;
    let store = &ws.store;
    match command {
        StateCommand::List => out.print(&render::state::list(&ops::state::list(store).await?)),
        StateCommand::Show { address } => {
            let (tenant, record) = ops::state::show(store, address).await?;
            out.print(&match record {
                Record::User(u) => render::state::user(&tenant, &u),
                Record::Group(g, t) => render::state::group(&tenant, &g, &t),
            });
        }
        StateCommand::Rm { addresses } => {
            let removed = ops::state::rm(&ws, addresses).await?;
            let mut text = String::new();
            for r in &removed {
                text.push_str(&format!("Removed {r}\n"));
            }
            out.print(&text);
            out.info(&format!(
                "{} no longer managed by zsc; the tenant was not changed. Remove them from the \
                 configuration too, or the next plan adopts them again.",
                render::count(removed.len(), "object is", "objects are")
            ));
        }
        StateCommand::Unlock { id, force } => {
            match ops::state::unlock(store, id.as_deref(), *force).await? {
                Unlocked::Free(Some(info)) => out.print(&format!(
                    "Released the lock left by {info}, which no longer holds it.\n"
                )),
                Unlocked::Free(None) => out.print("The state is not locked.\n"),
                Unlocked::Released(info) => {
                    out.print(&format!("Released the lock held by {info}.\n"));
                }
                Unlocked::Forced(info) => {
                    match info {
                        Some(info) => {
                            out.print(&format!("Force-released the lock held by {info}.\n"));
                        }
                        None => {
                            out.print("Force-released the lock (its holder left no information).\n")
                        }
                    }
                    out.warn(
                        "if that process is still running, it can still write the state: stop it first",
                    );
                }
            }
        }
        StateCommand::Pull => match ops::state::pull(store).await? {
            Some(bytes) => out.print(&String::from_utf8_lossy(&bytes)),
            None => out.info(&format!("The {} holds no state yet.", store.describe())),
        },
        StateCommand::Push { file, force } => match ops::state::push(&ws, file, *force).await? {
            Pushed::Same => out.print(&format!(
                "The {} holds this state already; nothing was written.\n",
                store.describe()
            )),
            Pushed::Written { serial } => out.print(&format!(
                "Pushed {} (serial {serial}) to the {}.\n",
                file.display(),
                store.describe()
            )),
        },
        StateCommand::Migrate {
            from,
            from_backend_config,
            force,
        } => {
            let from = if from_backend_config.is_empty() {
                MigrateFrom::File(from.clone())
            } else {
                MigrateFrom::Backend(backend_overrides(
                    from_backend_config,
                    "--from-backend-config",
                )?)
            };
            let migrated = ops::state::migrate(&ws, &from, *force).await?;
            if migrated.already {
                out.print(&format!(
                    "The {} holds this state already (lineage {}, serial {}).\n",
                    migrated.to, migrated.lineage, migrated.serial
                ));
            } else {
                out.print(&format!(
                    "Migrated the state (lineage {}, serial {}) from the {} to the {}.\n",
                    migrated.lineage, migrated.serial, migrated.from, migrated.to
                ));
            }
            out.info(&format!(
                "The {} was left as it was; remove it once you no longer need it.",
                migrated.from
            ));
        }
    }
    Ok(ExitStatus::Success)
}

async fn emulator(out: Output, args: &EmulatorArgs) -> Result<ExitStatus, Error> {
    if !args.listen.ip().is_loopback() {
        return Err(Error::Refusal(format!(
            "refusing to listen on `{}`: the emulator serves loopback addresses only",
            args.listen
        )));
    }
    let token = std::env::var(&args.token_env)
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::Refusal(format!(
                "set the environment variable `{}` to the bearer token clients must send",
                args.token_env
            ))
        })?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| Error::Refusal(format!("cannot listen on `{}`: {e}", args.listen)))?;
    let mut faults = crate::emulator::Faults {
        latency_ms: args.latency_ms,
        error_rate: args.error_rate,
        throttle_rate: args.throttle_rate,
        drop_rate: args.drop_rate,
        rate_limit: args.rate_limit,
        omit_from_lists: args.omit_from_lists,
        ..crate::emulator::Faults::default()
    };
    for quirk in &args.quirks {
        faults = faults.with_quirk(*quirk);
    }
    let options = crate::emulator::EmulatorOptions {
        dialect: args.dialect,
        token,
        data_file: args.data.clone(),
        faults,
        domains: args.domains.clone(),
        admin_users: Vec::new(),
    };
    let handle = crate::emulator::serve(listener, options)
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    out.print(&format!("{}\n", handle.base_url()));
    out.info(&format!(
        "serving the {} emulator; token from `{}`; Ctrl-C to stop",
        args.dialect, args.token_env
    ));
    let _ = tokio::signal::ctrl_c().await;
    handle
        .shutdown()
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(ExitStatus::Success)
}
