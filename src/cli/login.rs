//! `login` and `logout`: OAuth 2.0 device-grant sign-in, once, for every later run (see
//! [`crate::anaplan::oauth`]).
//!
//! `login` prints where to approve the sign-in (the address with the code filled in, on a line
//! of its own so it can be copied, and the code), waits while it is approved, and saves the
//! refresh token to the token file. `logout` revokes the token and deletes the file.

use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;
use super::connection::ConnectionArgs;
use crate::anaplan::oauth::{DevicePrompt, LogoutOutcome};
use crate::anaplan::{AnaplanClient, Credentials};
use crate::error::{Error, Result};

/// Arguments of `login`.
#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Arguments of `logout`.
#[derive(Debug, Args)]
pub(crate) struct LogoutArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// The client for OAuth commands: its credentials must be OAuth.
fn oauth_client(args: &ConnectionArgs) -> Result<AnaplanClient> {
    let (client, resolved) = args.client()?;
    match resolved.config.credentials {
        Credentials::OAuth(_) => Ok(client),
        _ => Err(Error::usage(
            "login and logout need --oauth-client-id (or ANAPLAN_OAUTH_CLIENT_ID)",
        )),
    }
}

/// Runs `login`.
pub(crate) async fn run_login(args: LoginArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let client = oauth_client(&args.connection)?;
    let mut show = |p: &DevicePrompt| {
        // The user must see this even with --quiet: without it nobody can approve the sign-in.
        let link = p
            .verification_uri_complete
            .clone()
            .unwrap_or_else(|| p.verification_uri.clone());
        eprintln!(
            "To sign in to Anaplan, open this address in a browser and confirm the code {}:",
            p.user_code
        );
        eprintln!("{link}");
        eprintln!(
            "(or go to {} and enter {}). The code expires in {} minutes; waiting...",
            p.verification_uri,
            p.user_code,
            p.expires_in.as_secs().div_ceil(60)
        );
    };
    let outcome = client.device_login(&mut show).await?;
    if !global.quiet {
        eprintln!(
            "Signed in. The refresh token is saved in {} (private to you); commands given the \
             same --oauth-client-id use it from now on.",
            outcome.token_file.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `logout`.
pub(crate) async fn run_logout(args: LogoutArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let client = oauth_client(&args.connection)?;
    let outcome = client.device_logout().await?;
    match outcome {
        LogoutOutcome::Revoked => {
            if !global.quiet {
                eprintln!("Signed out: the refresh token is revoked and its file deleted.");
            }
        }
        LogoutOutcome::DeletedOnly(why) => eprintln!(
            "warning: Anaplan did not confirm revoking the refresh token ({why}); its file is \
             deleted. A Tenant Security Administrator can revoke the client's tokens in \
             Administration > Security > OAuth Clients."
        ),
        LogoutOutcome::NothingToDo => {
            if !global.quiet {
                eprintln!("No token file: nothing to sign out of.");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
