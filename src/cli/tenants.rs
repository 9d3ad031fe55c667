//! Connecting to the configured tenants: a SCIM client per tenant, and for `kind: emulator`
//! the built-in server started inside this process on a loopback port.

use std::collections::HashMap;
use std::path::Path;

use crate::config::{Config, TenantConfig, TenantKind};
use crate::emulator::{self, EmulatorHandle, EmulatorOptions, Faults};
use crate::scim::{ClientOptions, ScimClient};
use crate::secret::Secret;

use super::Failure;

/// Clients for every tenant, and the emulators that must outlive them.
pub struct Tenants {
    pub clients: HashMap<String, ScimClient>,
    emulators: Vec<(String, EmulatorHandle)>,
}

impl Tenants {
    pub async fn connect(config: &Config, parallelism: Option<usize>) -> Result<Tenants, Failure> {
        let mut clients = HashMap::new();
        let mut emulators = Vec::new();
        for (name, tenant) in &config.tenants {
            let (base_url, token) = match tenant.kind {
                TenantKind::Emulator => {
                    let handle = start_embedded(&config.dir, tenant).await?;
                    let url = handle.base_url();
                    let token = handle_token(name);
                    emulators.push((name.clone(), handle));
                    (url, token)
                }
                _ => {
                    let url = tenant
                        .url
                        .clone()
                        .ok_or_else(|| Failure(format!("tenant `{name}` has no `url`")))?;
                    let token = tenant
                        .token
                        .as_ref()
                        .ok_or_else(|| Failure(format!("tenant `{name}` has no `token`")))?
                        .resolve()
                        .map_err(|e| Failure(format!("tenant `{name}`: {e}")))?;
                    (url, token)
                }
            };
            let mut options = ClientOptions::new(base_url, token, tenant.dialect);
            options.page_size = tenant.page_size;
            options.rate_limit = tenant.rate_limit;
            if let Some(p) = parallelism.or(tenant.parallelism) {
                options.parallelism = p.max(1);
            }
            if let Some(timeout) = test_timeout() {
                options.timeout = timeout;
            }
            let client =
                ScimClient::new(options).map_err(|e| Failure(format!("tenant `{name}`: {e}")))?;
            clients.insert(name.clone(), client);
        }
        Ok(Tenants { clients, emulators })
    }

    /// Stop embedded emulators, saving their data.
    pub async fn shutdown(self) -> Result<(), Failure> {
        for (name, handle) in self.emulators {
            handle
                .shutdown()
                .await
                .map_err(|e| Failure(format!("emulated tenant `{name}`: {e}")))?;
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

async fn start_embedded(dir: &Path, tenant: &TenantConfig) -> Result<EmulatorHandle, Failure> {
    let data_dir = dir.join(".zsc").join("emulator");
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| Failure(format!("cannot create `{}`: {e}", data_dir.display())))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| {
            Failure(format!(
                "cannot start the emulated tenant `{}`: {e}",
                tenant.name
            ))
        })?;
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
        .map_err(|e| Failure(format!("emulated tenant `{}`: {e}", tenant.name)))
}
