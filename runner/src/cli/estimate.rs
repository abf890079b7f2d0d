//! `windlass deploy --estimate FILE`: what the stack would cost (from the org's billing rule,
//! `POST /v1/orgs/{org}/stacks/{stack}/estimate`), printed as a table, and nothing deployed.

use serde_json::Value;

use super::billing::money;
use super::table::Table;
use super::text;

/// The estimate as a table: one row per service and resource, then one per service, then the
/// stack's total; amounts in the estimate's currency.
pub(super) fn render(estimate: &Value) -> String {
    let currency = text(estimate, "currency");
    let mut table = Table::new(&["SERVICE", "RESOURCE", "HOURLY", "DAILY", "MONTHLY"]);
    let empty = Vec::new();
    let row = |table: &mut Table, service: String, resource: String, cost: &Value| {
        table.row(vec![
            service,
            resource,
            money(&cost["hourly_minor"], &currency),
            money(&cost["daily_minor"], &currency),
            money(&cost["monthly_minor"], &currency),
        ]);
    };
    for line in estimate["lines"].as_array().unwrap_or(&empty) {
        row(
            &mut table,
            text(line, "service"),
            text(line, "resource"),
            &line["cost"],
        );
    }
    for service in estimate["services"].as_array().unwrap_or(&empty) {
        row(
            &mut table,
            text(service, "service"),
            "all".to_owned(),
            &service["cost"],
        );
    }
    row(
        &mut table,
        "total".to_owned(),
        "all".to_owned(),
        &estimate["total"],
    );
    format!(
        "{}/{} priced by {} (a month is {} hours; nothing deployed)\n{}",
        text(estimate, "org"),
        text(estimate, "stack"),
        text(estimate, "rule"),
        text(estimate, "hours_per_month"),
        table.render()
    )
}
