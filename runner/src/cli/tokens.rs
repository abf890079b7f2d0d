//! `windlass tokens create|ls|revoke`: API tokens, through `/v1/tokens` (an admin token is
//! needed; an org's admin manages its org's tokens only), and `windlass login` / `logout`,
//! which keep a token in the CLI's profile ([`super::profile`]).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Client, encode};
use super::profile::{self, Profile};
use super::table::Table;
use super::time::utc_millis;
use super::{CliError, ClientArgs, print_json, text};

/// `windlass tokens …`.
#[derive(Debug, Subcommand)]
pub(crate) enum TokensCommand {
    /// Create a token and print its secret (shown this once: store it now).
    Create(CreateArgs),
    /// List tokens (never their secrets): id, name, org, role, created, expires, last used.
    Ls(LsArgs),
    /// Revoke a token: from now on it is refused with `token-revoked`.
    Revoke(RevokeArgs),
}

/// `windlass tokens create`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// What the token is for (shown by `tokens ls`).
    #[arg(long)]
    name: String,
    /// Its org, or `*` for every org (default: the org of the token making it).
    #[arg(long)]
    org: Option<String>,
    /// `read`, `deploy` or `admin`.
    #[arg(long)]
    role: String,
    /// How long it works: a whole number and a unit, `90s`, `15m`, `12h`, `30d` (default:
    /// until revoked).
    #[arg(long, value_name = "DURATION")]
    expires: Option<String>,
    /// Print the API's JSON (with the secret).
    #[arg(long)]
    json: bool,
}

/// `windlass tokens ls`.
#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

/// `windlass tokens revoke`.
#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The token's id (`tok_…`, from `tokens ls`).
    id: String,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

impl TokensCommand {
    pub(crate) async fn run(self) -> Result<(), CliError> {
        match self {
            Self::Create(args) => create(args).await,
            Self::Ls(args) => ls(args).await,
            Self::Revoke(args) => revoke(args).await,
        }
    }
}

async fn create(args: CreateArgs) -> Result<(), CliError> {
    let mut body = json!({ "name": args.name, "role": args.role });
    if let Some(org) = &args.org {
        body["org"] = json!(org);
    }
    if let Some(expires) = &args.expires {
        let duration = windlass_config::parse_duration(expires)
            .map_err(|e| CliError::Usage(format!("--expires: {e}")))?;
        if duration.as_secs() == 0 {
            return Err(CliError::Usage(
                "--expires: a token must live at least one second".to_owned(),
            ));
        }
        body["expires_in_seconds"] = json!(duration.as_secs());
    }
    let created = args
        .client
        .client()?
        .call(Method::POST, "/v1/tokens", Some(&body))
        .await?;
    if args.json {
        print_json(&created);
        return Ok(());
    }
    println!(
        "created token {} {:?} for org {} with role {}{} (the secret is shown once, store it now):",
        text(&created, "id"),
        text(&created, "name"),
        text(&created, "org"),
        text(&created, "role"),
        match created["expires_ms"].as_i64() {
            Some(ms) => format!(", expiring {}", utc_millis(ms)),
            None => String::new(),
        }
    );
    println!("{}", text(&created, "secret"));
    Ok(())
}

async fn ls(args: LsArgs) -> Result<(), CliError> {
    let tokens = args.client.client()?.get("/v1/tokens").await?;
    if args.json {
        print_json(&tokens);
        return Ok(());
    }
    let mut table = Table::new(&[
        "ID",
        "NAME",
        "ORG",
        "ROLE",
        "CREATED",
        "EXPIRES",
        "LAST USED",
        "STATE",
    ]);
    let now = now_ms();
    for token in tokens.as_array().into_iter().flatten() {
        let time = |key: &str| token[key].as_i64().map_or("-".to_owned(), utc_millis);
        let state = if token["revoked_ms"].is_i64() {
            "revoked"
        } else if token["expires_ms"].as_i64().is_some_and(|ms| ms <= now) {
            "expired"
        } else {
            "active"
        };
        table.row(vec![
            text(token, "id"),
            text(token, "name"),
            text(token, "org"),
            text(token, "role"),
            time("created_ms"),
            time("expires_ms"),
            time("last_used_ms"),
            state.to_owned(),
        ]);
    }
    table.print();
    Ok(())
}

async fn revoke(args: RevokeArgs) -> Result<(), CliError> {
    let path = format!("/v1/tokens/{}", encode(&args.id));
    let revoked = args
        .client
        .client()?
        .call(Method::DELETE, &path, None)
        .await?;
    if args.json {
        print_json(&revoked);
    } else {
        println!(
            "revoked token {} {:?} (org {}, role {})",
            text(&revoked, "id"),
            text(&revoked, "name"),
            text(&revoked, "org"),
            text(&revoked, "role")
        );
    }
    Ok(())
}

/// `windlass login`.
#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// The runner's API: `http://HOST:PORT` or `https://…`.
    #[arg(long, env = "WINDLASS_URL")]
    url: String,
    /// The token to keep (checked against the API before it is saved).
    #[arg(long, env = "WINDLASS_TOKEN", hide_env_values = true)]
    token: String,
    /// For `https`: trust only the CA certificates in this PEM file.
    #[arg(long, env = "WINDLASS_CA_CERT", value_name = "FILE")]
    ca_cert: Option<PathBuf>,
}

/// `windlass login`: checks the token with `GET /v1/tokens/current`, then saves the profile.
pub(crate) async fn login(args: LoginArgs) -> Result<(), CliError> {
    let ca_cert = args
        .ca_cert
        .map(|file| std::path::absolute(&file).unwrap_or(file));
    let client = Client::new(&args.url, Some(args.token.clone()), ca_cert.as_deref())?;
    let me: Value = client.get("/v1/tokens/current").await?;
    let file = profile::save(&Profile {
        url: args.url.clone(),
        token: args.token,
        ca_cert,
    })?;
    println!(
        "logged in to {} as token {} {:?} (org {}, role {}); profile saved to {}",
        args.url,
        text(&me, "id"),
        text(&me, "name"),
        text(&me, "org"),
        text(&me, "role"),
        file.display()
    );
    Ok(())
}

/// `windlass logout`: deletes the profile (the token itself keeps working until revoked).
pub(crate) async fn logout() -> Result<(), CliError> {
    match profile::remove()? {
        Some(file) => println!("logged out: removed {}", file.display()),
        None => println!("not logged in: no profile"),
    }
    Ok(())
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
