//! `anaplan-parquet simulator`: serve a simulated Anaplan tenant (see [`crate::simulator`]).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::GlobalArgs;
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::shutdown::Shutdown;
use crate::simulator::{
    DEFAULT_PASSWORD, DEFAULT_ROWS, DEFAULT_USERNAME, FaultSpec, OAuthClientConfig, Simulator,
    SimulatorConfig,
};
use crate::units::{parse_duration, parse_size};

/// Arguments of `simulator`.
#[derive(Debug, Args)]
#[command(after_help = crate::simulator::FAULTS_HELP)]
pub struct SimulatorArgs {
    /// Address to listen on (`127.0.0.1:0` picks a free port; the first line of stdout says
    /// which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Tenant description (TOML: workspaces, models, exports, users, faults). Without it, a
    /// default tenant is served.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["username", "password", "rows", "chunk_size"])]
    pub config: Option<PathBuf>,

    /// Username of the default tenant's user.
    #[arg(long, value_name = "U", default_value = DEFAULT_USERNAME)]
    pub username: String,

    /// Password of the default tenant's user (default: the documented demo password).
    #[arg(
        long,
        value_name = "P",
        env = "ANAPLAN_SIM_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,

    /// Rows of the default tenant's main export (`Revenue - TSC.csv`).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_ROWS)]
    pub rows: u64,

    /// Chunk size of the main export: bytes, or with a unit (`10MB` is 10,000,000 bytes, `10MiB`
    /// 10,485,760).
    #[arg(long, value_name = "BYTES", default_value = "10MiB", value_parser = parse_size_arg)]
    pub chunk_size: u64,

    /// Seed of ids, export contents and fault decisions (overrides the config's).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,

    /// Faults to inject (overrides the config's global faults); see below.
    #[arg(long, value_name = "SPEC")]
    pub faults: Option<String>,

    /// How long export tasks run.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub task_duration: Option<Duration>,

    /// Token lifetime (default 35m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub token_ttl: Option<Duration>,

    /// Never gzip downloads, even when the client accepts it (saves the simulator's CPU in
    /// benchmarks).
    #[arg(long)]
    pub no_gzip: bool,

    /// Register an OAuth device-grant client with this id (served at `/oauth/...`): its codes
    /// are approved after the second poll, and it gets rotatable refresh tokens.
    #[arg(long, value_name = "ID")]
    pub oauth_client_id: Option<String>,

    /// How the `--oauth-client-id` client's device codes are answered: `after=N` (approved once
    /// N polls got `authorization_pending`), `deny`, or `manual`.
    #[arg(long, value_name = "deny|after=N", requires = "oauth_client_id")]
    pub oauth_approve: Option<String>,

    /// The `--oauth-client-id` client gets non-rotatable refresh tokens (never expire, never
    /// replaced).
    #[arg(long, requires = "oauth_client_id")]
    pub oauth_non_rotatable: bool,
}

fn parse_size_arg(s: &str) -> std::result::Result<u64, String> {
    match parse_size(s)? {
        0 => Err("must be at least 1 byte".into()),
        n => Ok(n),
    }
}

impl SimulatorArgs {
    /// The validated simulator configuration.
    pub fn to_config(&self) -> Result<SimulatorConfig> {
        let mut config = match &self.config {
            Some(path) => SimulatorConfig::from_toml_file(path)?,
            None => SimulatorConfig::default_tenant(
                &self.username,
                Secret::new(
                    self.password
                        .clone()
                        .unwrap_or_else(|| DEFAULT_PASSWORD.into()),
                ),
                self.rows,
                self.chunk_size,
                self.seed.unwrap_or(0),
            ),
        };
        if let Some(seed) = self.seed {
            config.seed = seed;
        }
        if let Some(spec) = &self.faults {
            config.faults = spec
                .parse::<FaultSpec>()
                .map_err(|e| Error::usage(format!("--faults: {e}")))?;
        }
        if let Some(d) = self.task_duration {
            config.task_duration = d;
        }
        if let Some(d) = self.token_ttl {
            config.token_ttl = d;
        }
        if self.no_gzip {
            config.gzip = false;
        }
        if let Some(id) = &self.oauth_client_id {
            let mut client = OAuthClientConfig::device(id.clone());
            if let Some(approve) = &self.oauth_approve {
                client.approve = approve
                    .parse()
                    .map_err(|e: Error| Error::usage(format!("--oauth-approve: {e}")))?;
            }
            if self.oauth_non_rotatable {
                client = client.non_rotatable();
            }
            config.oauth.clients.retain(|c| c.client_id != *id);
            config.oauth.clients.push(client);
        }
        config.validate()?;
        Ok(config)
    }
}

/// Runs `simulator` until SIGINT or SIGTERM.
pub async fn run(args: SimulatorArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let config = args.to_config()?;
    let default_password = args.config.is_none() && args.password.is_none();
    let handle = Simulator::start(config, args.listen).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", handle.base_url())
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("cannot write to stdout", e))?;
    }
    if !global.quiet {
        describe(&handle, default_password);
    }
    let shutdown = Shutdown::new();
    shutdown.listen_for_signals();
    shutdown.triggered().await;
    handle.shutdown().await;
    tracing::debug!("simulator stopped");
    Ok(ExitCode::SUCCESS)
}

/// Prints the tenant on stderr: users, then workspaces, models and exports with their ids.
fn describe(handle: &crate::simulator::SimulatorHandle, default_password: bool) {
    let config = handle.config();
    let mut lines = Vec::new();
    for u in &config.users {
        let how = match (&u.password, u.certificates.is_empty()) {
            (Some(_), true) => "password",
            (Some(_), false) => "password or certificate",
            (None, _) => "certificate",
        };
        lines.push(format!("user {} ({how})", u.username));
    }
    for c in &config.oauth.clients {
        let approve = match c.approve {
            crate::simulator::Approval::AfterPolls(n) => format!("approved after {n} polls"),
            crate::simulator::Approval::Deny => "denied".to_owned(),
            crate::simulator::Approval::Manual => "approved by hand".to_owned(),
        };
        let tokens = if c.rotatable {
            "rotatable"
        } else {
            "non-rotatable"
        };
        lines.push(format!(
            "oauth client {} (device grant, {approve}, {tokens} refresh tokens)",
            c.client_id
        ));
    }
    if default_password {
        lines.push(format!("password {DEFAULT_PASSWORD:?} (the demo default; set --password or ANAPLAN_SIM_PASSWORD)"));
    }
    for w in &config.workspaces {
        lines.push(format!(
            "workspace {} {:?}",
            w.id.as_deref().unwrap_or(""),
            w.name
        ));
        for m in &w.models {
            lines.push(format!(
                "  model {} {:?}{}",
                m.id.as_deref().unwrap_or(""),
                m.name,
                if m.active_state == "UNLOCKED" {
                    String::new()
                } else {
                    format!(" ({})", m.active_state)
                }
            ));
            for e in &m.exports {
                lines.push(format!(
                    "    export {} {:?}: {} rows, {}, chunks of {} bytes",
                    e.id.as_deref().unwrap_or(""),
                    e.name,
                    e.generator.rows,
                    e.layout.api_name(),
                    e.chunk_size
                ));
            }
        }
    }
    if !config.faults.is_empty() {
        lines.push(format!("faults {}", config.faults));
    }
    for line in lines {
        eprintln!("{line}");
    }
}
