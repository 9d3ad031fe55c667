//! Connecting to the configured tenants: a SCIM client per tenant, and for `kind: emulator`
//! the built-in server started inside this process on a loopback port; and reading them,
//! concurrently.

use std::collections::HashMap;
use std::path::Path;

use crate::config::{Config, TenantConfig, TenantKind};
use crate::emulator::{self, EmulatorHandle, EmulatorOptions, Faults};
use crate::error::Error;
use crate::model::LiveTenant;
use crate::scim::{ClientOptions, Expected, Memberships, ScimClient, Totals};
use crate::secret::Secret;

use super::ReadSettings;

/// Clients for the tenants of a run, and the emulators that must outlive them.
pub struct Tenants {
    pub clients: HashMap<String, ScimClient>,
    emulators: Vec<(String, EmulatorHandle)>,
    /// Requests in flight per tenant, as resolved for each.
    parallelism: HashMap<String, usize>,
}

/// Requests a tenant may have in flight at once: `--parallelism`, else the tenant's
/// `parallelism:`, else its dialect's default. The one place this is decided.
pub fn parallelism(tenant: &TenantConfig, flag: Option<usize>) -> usize {
    flag.or(tenant.parallelism)
        .unwrap_or(tenant.dialect.spec().default_parallelism)
        .max(1)
}

impl Tenants {
    /// Connect to every configured tenant, reading as `read` says.
    pub async fn connect(config: &Config, read: &ReadSettings) -> Result<Tenants, Error> {
        let flag = read.parallelism;
        let mut tenants = Tenants {
            clients: HashMap::new(),
            emulators: Vec::new(),
            parallelism: HashMap::new(),
        };
        for (name, tenant) in &config.tenants {
            let failed = |message: String| Error::Tenant {
                tenant: name.clone(),
                message,
            };
            let (base_url, token) = match tenant.kind {
                TenantKind::Emulator => {
                    let handle = start_embedded(&config.dir, tenant).await.map_err(failed)?;
                    let url = handle.base_url();
                    tenants.emulators.push((name.clone(), handle));
                    (url, handle_token(name))
                }
                _ => {
                    let url = tenant
                        .url
                        .clone()
                        .ok_or_else(|| failed("it has no `url`".to_owned()))?;
                    let token = tenant
                        .token
                        .as_ref()
                        .ok_or_else(|| failed("it has no `token`".to_owned()))?
                        .resolve()
                        .map_err(failed)?;
                    (url, token)
                }
            };
            let mut options = ClientOptions::new(base_url, token, tenant.dialect);
            options.page_size = tenant.page_size;
            options.rate_limit = tenant.rate_limit;
            options.parallelism = parallelism(tenant, flag);
            options.progress = read.progress.clone().map(|sink| (name.clone(), sink));
            options.memberships = match tenant.read.membership_source {
                crate::config::MembershipSource::Groups => Memberships::FromGroups,
                crate::config::MembershipSource::Users => Memberships::FromUsers,
                crate::config::MembershipSource::Auto => Memberships::Auto,
            };
            if let Some(timeout) = test_timeout() {
                options.timeout = timeout;
            }
            let client = ScimClient::new(options).map_err(|e| failed(e.to_string()))?;
            tenants
                .parallelism
                .insert(name.clone(), parallelism(tenant, flag));
            tenants.clients.insert(name.clone(), client);
        }
        Ok(tenants)
    }

    /// Steps an apply may have in flight across tenants: each tenant's requests in flight,
    /// added up (a step is one request, or a few in a row).
    pub fn step_limit(&self) -> usize {
        self.parallelism.values().sum::<usize>().max(1)
    }

    /// Read `names` concurrently, each accounting for what `expected` says of it. Every tenant
    /// that fails is named in the error.
    pub async fn read(
        &self,
        names: &[String],
        expected: impl Fn(&str) -> Expected,
    ) -> Result<HashMap<String, LiveTenant>, Error> {
        Ok(self
            .read_counted(names, expected)
            .await?
            .into_iter()
            .map(|(name, (live, _))| (name, live))
            .collect())
    }

    /// [`Self::read`], with what each tenant's listings counted.
    pub async fn read_counted(
        &self,
        names: &[String],
        expected: impl Fn(&str) -> Expected,
    ) -> Result<HashMap<String, (LiveTenant, Totals)>, Error> {
        let mut reads = tokio::task::JoinSet::new();
        for name in names {
            let client = self.clients[name].clone();
            let expected = expected(name);
            let name = name.clone();
            reads.spawn(async move { (name, client.read_tenant_counted(&expected).await) });
        }
        let mut live = HashMap::new();
        let mut errors = Vec::new();
        while let Some(joined) = reads.join_next().await {
            match joined {
                Ok((name, Ok(tenant))) => {
                    live.insert(name, tenant);
                }
                Ok((name, Err(e))) => errors.push((name, e)),
                Err(e) => return Err(Error::Internal(format!("a refresh worker failed: {e}"))),
            }
        }
        if errors.is_empty() {
            Ok(live)
        } else {
            errors.sort_by(|a, b| a.0.cmp(&b.0));
            Err(Error::Read(errors))
        }
    }

    /// Stop embedded emulators, saving their data.
    pub async fn shutdown(self) -> Result<(), Error> {
        for (name, handle) in self.emulators {
            handle.shutdown().await.map_err(|e| Error::Tenant {
                tenant: name,
                message: format!("the emulated tenant: {e}"),
            })?;
        }
        Ok(())
    }
}

/// `ZSC_HTTP_TIMEOUT_MS`, hidden and meant for tests only: the per-request timeout (60 s by
/// default) lowered so that a server slower than it can be tested in seconds.
fn test_timeout() -> Option<std::time::Duration> {
    let ms: u64 = std::env::var("ZSC_HTTP_TIMEOUT_MS")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (ms > 0).then(|| std::time::Duration::from_millis(ms))
}

/// The embedded emulator's token: it never leaves this process, so a fixed per-tenant value is
/// as good as a random one, and keeps the data file usable by `zsc emulator` later.
fn handle_token(tenant: &str) -> Secret {
    Secret::new(format!("zsc-embedded-{tenant}"))
}

async fn start_embedded(dir: &Path, tenant: &TenantConfig) -> Result<EmulatorHandle, String> {
    let data_dir = dir.join(".zsc").join("emulator");
    crate::fsx::create_private_dir(&data_dir)
        .map_err(|e| format!("cannot create `{}`: {e}", data_dir.display()))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot start the emulated tenant: {e}"))?;
    let options = EmulatorOptions {
        dialect: tenant.dialect,
        token: handle_token(&tenant.name).expose().to_owned(),
        data_file: Some(data_dir.join(format!("{}.json", tenant.name))),
        faults: Faults::default(),
        domains: tenant.allowed_domains.clone(),
        admin_users: Vec::new(),
    };
    emulator::serve(listener, options)
        .await
        .map_err(|e| format!("the emulated tenant: {e}"))
}
