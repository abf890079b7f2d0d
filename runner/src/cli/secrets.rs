//! `windlass secrets set|ls|rm|rotate-key`: the org's secret store through the API.
//!
//! `set` reads the value from standard input (default) or a file, never from an argument (a
//! command line is visible to every user of the machine and kept in shell history). The value
//! is taken byte for byte: `printf %s "$PW" | windlass secrets set acme db-password` stores no
//! trailing newline, `echo` would store one.

use std::io::Read as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::json;

use super::client::encode;
use super::table::Table;
use super::time::utc_millis;
use super::{CliError, ClientArgs, print_json, text};

/// `windlass secrets …`.
#[derive(Debug, Args)]
pub(crate) struct SecretsArgs {
    #[command(subcommand)]
    command: SecretsCommand,
}

#[derive(Debug, Subcommand)]
enum SecretsCommand {
    /// Set a secret's value (a new version) from standard input or a file; services that use
    /// it are rolled onto it.
    Set {
        #[command(flatten)]
        client: ClientArgs,
        /// The organisation.
        org: String,
        /// The secret's name.
        name: String,
        /// Read the value from this file instead of standard input.
        #[arg(long, value_name = "FILE")]
        from_file: Option<PathBuf>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// List an org's secrets: versions, times, the services using them (never values).
    Ls {
        #[command(flatten)]
        client: ClientArgs,
        /// The organisation.
        org: String,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a secret with every version (refused while services use it).
    Rm {
        #[command(flatten)]
        client: ClientArgs,
        /// The organisation.
        org: String,
        /// The secret's name.
        name: String,
    },
    /// Re-encrypt every secret under a new key (an admin token of every org).
    RotateKey {
        #[command(flatten)]
        client: ClientArgs,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `windlass secrets …`.
pub(crate) async fn secrets(args: SecretsArgs) -> Result<(), CliError> {
    match args.command {
        SecretsCommand::Set {
            client,
            org,
            name,
            from_file,
            json,
        } => {
            let client = client.client()?;
            let value = read_value(from_file)?;
            let body = json!({ "value": value });
            drop(value);
            let path = format!("/v1/orgs/{}/secrets/{}", encode(&org), encode(&name));
            let answer = client.call(Method::PUT, &path, Some(&body)).await?;
            if json {
                print_json(&answer);
            } else {
                println!("{org}/{name}: version {}", text(&answer, "version"));
                for (what, key) in [
                    ("rolling", "rolled"),
                    ("recorded only (manual)", "recorded"),
                ] {
                    let services: Vec<String> = answer[key]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect();
                    if !services.is_empty() {
                        println!("  {what}: {}", services.join(", "));
                    }
                }
            }
        }
        SecretsCommand::Ls { client, org, json } => {
            let answer = client
                .client()?
                .get(&format!("/v1/orgs/{}/secrets", encode(&org)))
                .await?;
            if json {
                print_json(&answer);
                return Ok(());
            }
            let mut table = Table::new(&["NAME", "VERSION", "VERSIONS KEPT", "UPDATED", "USED BY"]);
            for secret in answer.as_array().into_iter().flatten() {
                let kept = secret["versions"].as_array().map_or(0, Vec::len);
                let used: Vec<String> = secret["used_by"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|u| {
                        format!(
                            "{}/{}@{}",
                            text(u, "stack"),
                            text(u, "service"),
                            text(u, "version")
                        )
                    })
                    .collect();
                table.row(vec![
                    text(secret, "name"),
                    text(secret, "latest_version"),
                    kept.to_string(),
                    secret["updated_ms"]
                        .as_i64()
                        .map_or_else(|| "-".to_owned(), utc_millis),
                    if used.is_empty() {
                        "-".to_owned()
                    } else {
                        used.join(", ")
                    },
                ]);
            }
            table.print();
        }
        SecretsCommand::Rm { client, org, name } => {
            let path = format!("/v1/orgs/{}/secrets/{}", encode(&org), encode(&name));
            client.client()?.call(Method::DELETE, &path, None).await?;
            println!("deleted {org}/{name}");
        }
        SecretsCommand::RotateKey { client, json } => {
            let answer = client
                .client()?
                .call(Method::POST, "/v1/secrets/rotate-key", None)
                .await?;
            if json {
                print_json(&answer);
            } else {
                println!(
                    "re-encrypted {} values: key {} -> {}",
                    text(&answer, "reencrypted"),
                    text(&answer, "old_key_id"),
                    text(&answer, "new_key_id")
                );
            }
        }
    }
    Ok(())
}

/// The value, from `file` or standard input, as UTF-8 text.
fn read_value(file: Option<PathBuf>) -> Result<String, CliError> {
    let bytes = match &file {
        Some(path) => std::fs::read(path)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?,
        None => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| CliError::Usage(format!("cannot read standard input: {e}")))?;
            bytes
        }
    };
    if bytes.is_empty() {
        return Err(CliError::Usage(
            "the value is empty: pipe it in (`printf %s \"$VALUE\" | windlass secrets set ORG NAME`) or use --from-file".into(),
        ));
    }
    String::from_utf8(bytes).map_err(|_| CliError::Usage("the value is not UTF-8 text".into()))
}
