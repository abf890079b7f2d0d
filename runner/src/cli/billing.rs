//! `windlass billing` (invoices, usage so far, balance, top-up) and `windlass quota` (limits
//! and what the org holds), over `/v1/orgs/{org}/billing/…` and `/v1/orgs/{org}/quotas`.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client::encode;
use super::table::Table;
use super::{CliError, ClientArgs, print_json, text};

/// `windlass billing`.
#[derive(Debug, Args)]
pub(crate) struct BillingArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The org (required).
    #[arg(long, global = true)]
    org: Option<String>,
    /// Print the API's JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: BillingCommand,
}

#[derive(Debug, Subcommand)]
enum BillingCommand {
    /// The org's invoices, one line each (with `--lines`, every invoice line too).
    Invoices {
        /// Print every invoice's lines.
        #[arg(long)]
        lines: bool,
    },
    /// Usage metered since the last charged period, per service.
    Usage,
    /// The balance and its movements.
    Balance,
    /// Add credit (an operator admin token of every org).
    TopUp {
        /// Minor units (cents for EUR).
        amount_minor: i64,
        /// A reference kept with the movement.
        #[arg(long, default_value = "")]
        reference: String,
    },
}

/// An amount in minor units as `12.34 EUR` (two decimals, as for EUR and USD).
pub(super) fn money(minor: &Value, currency: &str) -> String {
    let Some(minor) = minor.as_i64() else {
        return "-".to_owned();
    };
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02} {currency}", abs / 100, abs % 100)
}

/// `windlass billing --org ORG …`.
pub(crate) async fn billing(args: BillingArgs) -> Result<(), CliError> {
    let client = args.client.client()?;
    let org = args
        .org
        .clone()
        .ok_or_else(|| CliError::Usage("--org ORG is required".into()))?;
    let base = format!("/v1/orgs/{}", encode(&org));
    let answer = match &args.command {
        BillingCommand::Invoices { .. } => client.get(&format!("{base}/billing/invoices")).await?,
        BillingCommand::Usage => client.get(&format!("{base}/billing/usage")).await?,
        BillingCommand::Balance => client.get(&format!("{base}/billing/balance")).await?,
        BillingCommand::TopUp {
            amount_minor,
            reference,
        } => {
            let body = json!({ "amount_minor": amount_minor, "reference": reference });
            client
                .call(
                    reqwest::Method::POST,
                    &format!("{base}/billing/top-up"),
                    Some(&body),
                )
                .await?
        }
    };
    if args.json {
        print_json(&answer);
        return Ok(());
    }
    match &args.command {
        BillingCommand::Invoices { lines } => {
            let mut table = Table::new(&["PERIOD START", "PERIOD END", "RULE", "LINES", "TOTAL"]);
            let empty = Vec::new();
            let invoices = answer["invoices"].as_array().unwrap_or(&empty);
            for invoice in invoices {
                let currency = text(invoice, "currency");
                table.row(vec![
                    super::time::utc_millis(invoice["period_start_ms"].as_i64().unwrap_or(0)),
                    super::time::utc_millis(invoice["period_end_ms"].as_i64().unwrap_or(0)),
                    text(invoice, "rule"),
                    invoice["lines"].as_array().map_or(0, Vec::len).to_string(),
                    money(&invoice["total_minor"], &currency),
                ]);
            }
            table.print();
            if *lines {
                let mut table =
                    Table::new(&["PERIOD START", "DESCRIPTION", "QUANTITY", "UNIT", "AMOUNT"]);
                for invoice in invoices {
                    let currency = text(invoice, "currency");
                    for line in invoice["lines"].as_array().unwrap_or(&empty) {
                        let micros = line["quantity_micros"].as_i64().unwrap_or(0);
                        table.row(vec![
                            super::time::utc_millis(
                                invoice["period_start_ms"].as_i64().unwrap_or(0),
                            ),
                            text(line, "description"),
                            format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000),
                            text(line, "unit"),
                            money(&line["amount_minor"], &currency),
                        ]);
                    }
                }
                table.print();
            }
        }
        BillingCommand::Usage => {
            let mut table = Table::new(&[
                "STACK",
                "SERVICE",
                "CPU CORE-H",
                "MEMORY GIB-H",
                "CPU USED S",
                "EGRESS BYTES",
            ]);
            let empty = Vec::new();
            for s in answer["services"].as_array().unwrap_or(&empty) {
                let exact = |key: &str| {
                    s[key]
                        .as_str()
                        .and_then(|v| v.parse::<i128>().ok())
                        .unwrap_or(0)
                };
                let per_hour = |n: i128, unit: i128| format!("{:.3}", n as f64 / unit as f64);
                table.row(vec![
                    text(s, "stack"),
                    text(s, "service"),
                    per_hour(exact("cpu_allocated_milli_ms"), 1_000 * 3_600_000),
                    per_hour(exact("memory_allocated_byte_ms"), (1 << 30) * 3_600_000),
                    per_hour(exact("cpu_used_core_ms"), 1_000),
                    exact("egress_bytes").to_string(),
                ]);
            }
            table.print();
        }
        BillingCommand::Balance | BillingCommand::TopUp { .. } => {
            let account = &answer["account"];
            if account.is_null() {
                println!("org {org}: no account yet (no cycle has run, no top-up)");
                return Ok(());
            }
            let currency = text(account, "currency");
            println!(
                "org {org}: balance {}{}",
                money(&account["balance_minor"], &currency),
                if account["grace_started_ms"].is_null() {
                    String::new()
                } else {
                    format!(
                        ", in grace since {}",
                        super::time::utc_millis(account["grace_started_ms"].as_i64().unwrap_or(0))
                    )
                }
            );
            let empty = Vec::new();
            let movements = answer["movements"].as_array().unwrap_or(&empty);
            if !movements.is_empty() {
                let mut table = Table::new(&["#", "AT", "KIND", "AMOUNT", "BALANCE", "REFERENCE"]);
                for m in movements {
                    table.row(vec![
                        text(m, "seq"),
                        super::time::utc_millis(m["at_ms"].as_i64().unwrap_or(0)),
                        text(m, "kind"),
                        money(&m["amount_minor"], &currency),
                        money(&m["balance_minor"], &currency),
                        text(m, "reference"),
                    ]);
                }
                table.print();
            }
        }
    }
    Ok(())
}

/// `windlass quota`.
#[derive(Debug, Args)]
pub(crate) struct QuotaArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The org.
    #[arg(long)]
    org: String,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

/// `windlass quota --org ORG`: each limit beside what the org holds.
pub(crate) async fn quota(args: QuotaArgs) -> Result<(), CliError> {
    let client = args.client.client()?;
    let answer = client
        .get(&format!("/v1/orgs/{}/quotas", encode(&args.org)))
        .await?;
    if args.json {
        print_json(&answer);
        return Ok(());
    }
    let mut table = Table::new(&["RESOURCE", "HELD", "LIMIT", "USED %"]);
    let limits = &answer["limits"];
    let held = &answer["allocation"];
    for (resource, limit_key, held_key) in [
        ("cpu (millicores)", "cpu_millis", "cpu_millis"),
        ("memory (bytes)", "memory_bytes", "memory_bytes"),
        ("containers", "containers", "containers"),
        ("services", "services", "services"),
    ] {
        let now = held[held_key].as_u64().unwrap_or(0);
        let (limit, percent) = match limits[limit_key].as_u64() {
            Some(0) => ("0".to_owned(), "-".to_owned()),
            Some(limit) => (limit.to_string(), format!("{}", now * 100 / limit)),
            None => ("unlimited".to_owned(), "-".to_owned()),
        };
        table.row(vec![resource.to_owned(), now.to_string(), limit, percent]);
    }
    table.print();
    Ok(())
}
