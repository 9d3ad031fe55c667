//! Command-line flags, exactly as typed. Nothing below the CLI layer sees these types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::dialect::Dialect;

#[derive(Debug, Parser)]
#[command(
    name = "zsc",
    version,
    about = "Keep Zscaler (ZIA, ZPA) and SCIM 2.0 tenants' users, groups and memberships equal to what git declares",
    long_about = "zsc refreshes live users and groups from each tenant's SCIM API, plans the changes that make them \
                  match your YAML (as a reviewable, attribute-level diff), and applies them concurrently, \
                  surviving rate limits, failures and interruptions.\n\n\
                  Typical use: `zsc plan` on every pull request, `zsc apply` after merge.",
    after_help = "Exit codes: 0 success (or no changes), 1 error, 2 changes present (plan --detailed-exitcode), 130 interrupted.\n\
                  Environment: NO_COLOR turns color off; ZSC_LOG=debug logs like -vv; ZSC_LOG_PATH sends logs to a file."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// The configuration file.
    #[arg(
        short,
        long,
        global = true,
        default_value = "zsc.yaml",
        env = "ZSC_CONFIG"
    )]
    pub config: PathBuf,
    /// The state file [default: .zsc/state.json beside the configuration].
    #[arg(long, global = true, env = "ZSC_STATE")]
    pub state: Option<PathBuf>,
    /// When to use colors and progress bars.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Never use colors (same as --color never, or NO_COLOR).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Log more: -v requests and decisions, -vv everything.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print only results and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// No progress bars: one line per completed change and a periodic summary instead (the
    /// default when stderr is not a terminal, as in CI).
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// How long to wait for the state lock when another run holds it (`30s`, `5m`, `1h`),
    /// retrying with backoff [default: 0s: fail at once, naming the holder].
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration, env = "ZSC_LOCK_TIMEOUT")]
    pub lock_timeout: Option<std::time::Duration>,
    /// Set a key of the configuration's `backend:` (repeatable): `bucket=acme-zsc`,
    /// `kind=http`, `password=env:CI_JOB_TOKEN`. `ZSC_BACKEND_<KEY>` variables do the same.
    #[arg(long = "backend-config", global = true, value_name = "KEY=VALUE")]
    pub backend_config: Vec<String>,
}

/// A duration as people write it: `0`, `500ms`, `30s`, `5m`, `1h`, or several (`1m30s`).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let mut total = std::time::Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err("expected a duration such as `30s` or `5m`".to_owned());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let unit_len = rest[digits..]
            .bytes()
            .take_while(u8::is_ascii_alphabetic)
            .count();
        if digits == 0 || unit_len == 0 {
            return Err(format!(
                "`{text}` is not a duration: write a number and a unit, such as `30s`, `5m` or `1h`"
            ));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}` is too large a duration"))?;
        let unit = &rest[digits..digits + unit_len];
        let part = match unit {
            "ms" => std::time::Duration::from_millis(n),
            "s" => std::time::Duration::from_secs(n),
            "m" => std::time::Duration::from_secs(n.saturating_mul(60)),
            "h" => std::time::Duration::from_secs(n.saturating_mul(3600)),
            other => {
                return Err(format!(
                    "unknown unit `{other}` in `{text}` (use `ms`, `s`, `m` or `h`)"
                ))
            }
        };
        total = total.saturating_add(part);
        rest = &rest[digits + unit_len..];
    }
    Ok(total)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the configuration without contacting any tenant (no token needed).
    Validate(ValidateArgs),
    /// Read live users and groups into the state file.
    Refresh(RefreshArgs),
    /// Show what apply would change.
    Plan(PlanArgs),
    /// Make the changes: plan and apply, or apply a saved plan file.
    Apply(ApplyArgs),
    /// Write YAML declaring what a tenant holds live, and record it in state as managed.
    Import(ImportArgs),
    /// Serve the built-in emulated SCIM tenant over HTTP.
    Emulator(EmulatorArgs),
    /// Probe each tenant's server, read-only, and say what zsc will use there and why.
    Doctor(DoctorArgs),
    /// Show a plan saved by `zsc plan -o FILE` (as text, markdown or JSON), or without one,
    /// what the state holds.
    Show(ShowArgs),
    /// Inspect and edit what zsc manages, without touching any tenant.
    #[command(subcommand)]
    State(StateCommand),
    /// Print a shell completion script.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print zsc's version.
    Version,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Output format: `json` prints every problem with its file, line and column.
    #[arg(long, value_enum, default_value_t = ValidateFormat::Text)]
    pub format: ValidateFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ValidateFormat {
    /// Diagnostics for people, pointing at the line.
    Text,
    /// One JSON document: `valid`, counts, `problems` and `warnings` with their locations.
    Json,
}

#[derive(Debug, Args)]
pub struct RefreshArgs {
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub guards: GuardArgs,
}

/// How tenants are read: shared by `refresh`, `plan` and `apply`.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Requests in flight at once per tenant [default: the tenant's `parallelism`, else its
    /// kind's].
    #[arg(long, value_name = "N")]
    pub parallelism: Option<usize>,
    /// Go on when a listing stays short of the count the server reports and a declared or
    /// managed object cannot be found (for a server whose count is simply wrong).
    #[arg(long)]
    pub accept_listing_gap: bool,
}

impl ReadArgs {
    pub fn settings(
        &self,
        progress: Option<crate::scim::ProgressSink>,
    ) -> crate::ops::ReadSettings {
        crate::ops::ReadSettings {
            parallelism: self.parallelism,
            accept_listing_gap: self.accept_listing_gap,
            progress,
        }
    }
}

/// The destroy guards, raised for one run: shared by `plan` and `apply`.
#[derive(Debug, Args)]
pub struct GuardArgs {
    /// Allow this many disables and deletes for this run (overrides `max_destroy`).
    #[arg(long, value_name = "N")]
    pub max_destroy: Option<usize>,
    /// Allow disabling or deleting this share (percent) of a tenant's managed objects for this
    /// run (overrides `max_destroy_percent`).
    #[arg(long, value_name = "PERCENT")]
    pub max_destroy_percent: Option<f64>,
    /// Plan a tenant whose configuration points at another server than it was applied to,
    /// although objects zsc manages there are gone, for this run.
    #[arg(long)]
    pub allow_moved_tenant: bool,
}

impl GuardArgs {
    pub fn flags(&self) -> crate::ops::LimitFlags {
        crate::ops::LimitFlags {
            max_destroy: self.max_destroy,
            max_destroy_percent: self.max_destroy_percent,
            allow_moved_tenant: self.allow_moved_tenant,
        }
    }
}

/// Which access the plan grants: as of when, and whether it may take any away.
#[derive(Debug, Args)]
pub struct AccessArgs {
    /// Plan as of this moment instead of now: an RFC 3339 time (`2027-04-01T09:00:00Z`) or a
    /// date (its start, UTC). Access whose `until:` has passed by then is removed.
    #[arg(long, value_name = "TIME", value_parser = parse_moment, help_heading = "Access")]
    pub at: Option<jiff::Timestamp>,
    /// Emergency additive mode: only creates, updates and additions; no disable, delete or
    /// member removal. The plan says how many changes it left out.
    #[arg(long, help_heading = "Access")]
    pub skip_removals: bool,
}

impl AccessArgs {
    pub fn settings(&self) -> crate::ops::AccessSettings {
        crate::ops::AccessSettings {
            at: self.at,
            skip_removals: self.skip_removals,
        }
    }
}

/// `--at`: an RFC 3339 time, or a date meaning its first moment in UTC.
fn parse_moment(text: &str) -> Result<jiff::Timestamp, String> {
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        return jiff::tz::Offset::UTC
            .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
            .map_err(|e| e.to_string());
    }
    text.parse::<jiff::Timestamp>().map_err(|_| {
        format!(
            "`{text}` is neither a date (`2027-04-01`) nor an RFC 3339 time \
             (`2027-04-01T09:00:00Z`)"
        )
    })
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Save the plan to this file, for `zsc apply FILE`.
    #[arg(short = 'o', long = "out")]
    pub out: Option<PathBuf>,
    /// Plan only these objects (and what they depend on): an address such as
    /// `demo.user["jsmith@example.com"]`, `demo.group["Accounting"]` or a tenant name.
    #[arg(long = "target", value_name = "ADDR")]
    pub targets: Vec<String>,
    /// What to read before planning: `full` (or `true`) every user and group; `changed` only
    /// what this plan can touch, counting the rest; `false` nothing (plan from the state file)
    /// [default: each tenant's `refresh:`, else full].
    #[arg(long, value_enum, value_name = "WHAT")]
    pub refresh: Option<RefreshArg>,
    /// Exit 2 when there are changes (0 when none, 1 on error).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub guards: GuardArgs,
    #[command(flatten)]
    pub access: AccessArgs,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved by `zsc plan -o FILE`: applied exactly, without asking.
    pub plan_file: Option<PathBuf>,
    /// Apply without asking for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Apply only these objects (and what they depend on).
    #[arg(long = "target", value_name = "ADDR")]
    pub targets: Vec<String>,
    /// What to read before planning: `full` (or `true`, the default) every user and group;
    /// `changed` only what the plan can touch; `false` nothing (plan from the state file).
    #[arg(long, value_enum, value_name = "WHAT")]
    pub refresh: Option<RefreshArg>,
    #[command(flatten)]
    pub guards: GuardArgs,
    #[command(flatten)]
    pub access: AccessArgs,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// `--refresh`: whether, and how much, to read before planning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RefreshArg {
    /// Every user and group (as `full`).
    True,
    /// Nothing: plan from the state file alone.
    False,
    /// Every user and group.
    Full,
    /// Only what the plan can touch, and one count per resource type.
    Changed,
}

impl RefreshArg {
    /// Whether to read at all, and how much (`None`: as each tenant's `refresh:` says).
    pub fn resolve(arg: Option<RefreshArg>) -> (bool, Option<crate::config::RefreshMode>) {
        use crate::config::RefreshMode;
        match arg {
            None => (true, None),
            Some(RefreshArg::False) => (false, None),
            Some(RefreshArg::True | RefreshArg::Full) => (true, Some(RefreshMode::Full)),
            Some(RefreshArg::Changed) => (true, Some(RefreshMode::Changed)),
        }
    }
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Probe only this tenant [default: every tenant].
    #[arg(long)]
    pub tenant: Option<String>,
    /// Output format: `json` is the report to attach to bug reports.
    #[arg(long, value_enum, default_value_t = ValidateFormat::Text)]
    pub format: ValidateFormat,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Import only this tenant [default: every tenant, merged into one file].
    #[arg(long)]
    pub tenant: Option<String>,
    /// Write here [default: imported/<tenant>.yaml beside the configuration].
    #[arg(long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Overwrite the file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Requests in flight at once per tenant [default: the tenant's `parallelism`, else its
    /// kind's].
    #[arg(long, value_name = "N")]
    pub parallelism: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Terraform-style diff for people.
    Text,
    /// The plan document (the saved plan file's content) for machines; see docs/plan-json.md.
    Json,
    /// A pull-request comment: summary first, tables of counts, folded diffs.
    Markdown,
}

impl Format {
    /// The view it names.
    pub fn view(self) -> crate::render::View {
        match self {
            Format::Text => crate::render::View::Text,
            Format::Json => crate::render::View::Json,
            Format::Markdown => crate::render::View::Markdown,
        }
    }
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A plan file saved by `zsc plan -o FILE` [default: show what the state holds].
    pub plan_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List the address of every managed user and group, one per line.
    List,
    /// Show the managed record of a user or group (`zsc state show 't.user["a@example.com"]'`).
    Show {
        /// The user's or group's address.
        #[arg(value_name = "ADDR")]
        address: String,
    },
    /// Stop managing users or groups without changing the tenant. Remove them from the YAML
    /// too, or the next plan adopts them again.
    Rm {
        /// Addresses of users or groups, or a tenant's name for all it holds.
        #[arg(value_name = "ADDR", required = true)]
        addresses: Vec<String>,
    },
    /// Show who holds the state lock and release it if its holder is gone (or ID names it).
    Unlock {
        /// The lock id to release, as the error naming the holder shows it (for a remote
        /// backend's lock left by a cancelled CI job).
        #[arg(value_name = "ID")]
        id: Option<String>,
        /// Release the lock even though its holder still holds it (it runs on another machine
        /// sharing this file system, or the file system keeps locks of dead processes).
        #[arg(long)]
        force: bool,
    },
    /// Print the stored state as the backend holds it.
    Pull,
    /// Replace the stored state with FILE: refused for another lineage, a lower serial, or the
    /// same serial with different content, unless --force.
    Push {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Replace it even against those rules (still never over a state that changes while
        /// this runs).
        #[arg(long)]
        force: bool,
    },
    /// Copy the state into the configured backend from where it was (the local state file by
    /// default); the old copy is left as it was.
    Migrate {
        /// The local state file to take the state from [default: .zsc/state.json beside the
        /// configuration].
        #[arg(long, value_name = "FILE", conflicts_with = "from_backend_config")]
        from: Option<PathBuf>,
        /// The backend to take the state from, key by key, with its `kind` (repeatable):
        /// `--from-backend-config kind=http --from-backend-config address=https://...`.
        #[arg(long = "from-backend-config", value_name = "KEY=VALUE")]
        from_backend_config: Vec<String>,
        /// Overwrite a state of another lineage or a higher serial in the destination.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Which service to behave like.
    #[arg(long, value_enum, default_value_t = Dialect::Scim)]
    pub dialect: Dialect,
    /// Keep the tenant's data in this JSON file [default: memory only].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The environment variable holding the bearer token clients must send.
    #[arg(long, default_value = "ZSC_EMULATOR_TOKEN")]
    pub token_env: String,
    /// Registered userName domains (ZIA refuses others); repeatable.
    #[arg(long = "domain", value_name = "DOMAIN")]
    pub domains: Vec<String>,
    /// Add this much latency to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Share of requests answered with a 5xx error (0.0 to 1.0).
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Share of requests answered 429 with Retry-After (0.0 to 1.0).
    #[arg(long, default_value_t = 0.0)]
    pub throttle_rate: f64,
    /// Share of requests whose connection is cut after the change is made (0.0 to 1.0).
    #[arg(long, default_value_t = 0.0)]
    pub drop_rate: f64,
    /// Answer 429 above this many requests per second.
    #[arg(long)]
    pub rate_limit: Option<f64>,
    /// Leave every Nth user and group out of unfiltered listings (still counted in
    /// totalResults).
    #[arg(long, value_name = "N")]
    pub omit_from_lists: Option<u64>,
    /// Behave like a server with this difference; repeatable.
    #[arg(long = "quirk", value_name = "NAME")]
    pub quirks: Vec<crate::emulator::Quirk>,
}

/// The dialects as `--dialect` values, listed in `--help`.
impl ValueEnum for Dialect {
    fn value_variants<'a>() -> &'a [Self] {
        &[Dialect::Scim, Dialect::Zia, Dialect::Zpa]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let help = match self {
            Dialect::Scim => "generic SCIM 2.0 (RFC 7643/7644)",
            Dialect::Zia => "Zscaler Internet Access",
            Dialect::Zpa => "Zscaler Private Access",
        };
        Some(clap::builder::PossibleValue::new(self.name()).help(help))
    }
}

/// The emulator's quirks as `--quirk` values, named and described by the emulator.
impl ValueEnum for crate::emulator::Quirk {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()).help(self.help()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::parse_duration;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        for bad in ["", "5", "m", "5d", "1.5m", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
