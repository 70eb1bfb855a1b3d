//! `hoist login`, `hoist logout`: credentials in Docker's config.json (or its credential helper).

use std::io::Read as _;

use anyhow::{bail, Context as _};
use clap::Args;
use hoist_registry::server_key;

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[arg(short = 'u', long)]
    username: Option<String>,
    /// The password (visible to other users of this machine: prefer --password-stdin).
    #[arg(short = 'p', long)]
    password: Option<String>,
    /// Read the password from standard input.
    #[arg(long, conflicts_with = "password")]
    password_stdin: bool,
    /// Reach this registry over plain http (or https with any certificate); repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    insecure: Vec<String>,
    /// The registry (default Docker Hub).
    server: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry (default Docker Hub).
    server: Option<String>,
}

pub fn login(root: &std::path::Path, args: LoginArgs) -> anyhow::Result<i32> {
    let Some(user) = args.username.filter(|u| !u.is_empty()) else {
        bail!("a username is required: hoist login -u USER [--password-stdin] [SERVER]");
    };
    let password = if args.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the password from standard input")?;
        text.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(password) = args.password {
        errln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        password
    } else {
        bail!("a password is required: pass it on standard input with --password-stdin (or -p)");
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    let registry = crate::pull::registry_for(root, args.insecure, None)?;
    let written = registry.login(args.server.as_deref(), &user, &password)?;
    errln!("Credentials saved in {}", written.display());
    outln!("Login Succeeded");
    Ok(0)
}

pub fn logout(root: &std::path::Path, args: LogoutArgs) -> anyhow::Result<i32> {
    let key = server_key(args.server.as_deref());
    let registry = crate::pull::registry_for(root, Vec::new(), None)?;
    if registry.logout(args.server.as_deref())? {
        outln!("Removing login credentials for {key}");
    } else {
        outln!("Not logged in to {key}");
    }
    Ok(0)
}
