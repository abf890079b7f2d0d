//! The `billing_accounts`, `invoices`, `invoice_lines` and `balance_movements` tables.
//!
//! [`Store::charge_batch`] is the one place money moves for a cycle: per org, the invoice
//! (unique per org and period), its lines, the balance deduction, the account's cursor and the
//! movement are written together (a savepoint of a batch's transaction), so a cycle killed
//! anywhere charges an org's period either fully or not at all, and a second attempt finds the
//! period charged.

use super::Store;
use super::error::{QueryContext, StoreError};
use crate::billing::{Account, Movement, StoredInvoice, StoredLine};

/// Appends a movement with the org's next sequence number, inside the transaction `$tx` (a
/// macro: each backend's transaction is its own type).
macro_rules! insert_movement {
    ($tx:expr, $org:expr, $at_ms:expr, $kind:expr, $amount:expr, $balance:expr, $reference:expr) => {
        sqlx::query(
            "INSERT INTO balance_movements (org, seq, at_ms, kind, amount_minor, balance_minor, \
             reference) VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM balance_movements \
             WHERE org = $1), $2, $3, $4, $5, $6)",
        )
        .bind($org)
        .bind($at_ms)
        .bind($kind)
        .bind($amount)
        .bind($balance)
        .bind($reference)
        .execute(&mut *$tx)
        .await
        .op("insert balance movement")
    };
}

/// Inserts `$invoice`'s lines inside the transaction `$tx`, 1,000 lines a statement (7
/// parameters a line).
macro_rules! insert_lines {
    ($tx:expr, $invoice:expr) => {{
        let invoice: &StoredInvoice = $invoice;
        let numbered: Vec<(i64, &StoredLine)> = invoice
            .lines
            .iter()
            .enumerate()
            .map(|(n, line)| Ok((to_sql_int::<_, i64>("invoice_lines.line", n)?, line)))
            .collect::<Result<_, StoreError>>()?;
        let mut result: Result<(), StoreError> = Ok(());
        for chunk in numbered.chunks(1_000) {
            let mut query = sqlx::QueryBuilder::new(
                "INSERT INTO invoice_lines (org, period_start_ms, line, description, \
                 quantity_micros, unit, amount_minor) ",
            );
            query.push_values(chunk, |mut row, (number, line)| {
                row.push_bind(&invoice.org)
                    .push_bind(invoice.period_start_ms)
                    .push_bind(*number)
                    .push_bind(&line.description)
                    .push_bind(line.quantity_micros)
                    .push_bind(&line.unit)
                    .push_bind(line.amount_minor);
            });
            if let Err(error) = query
                .build()
                .execute(&mut *$tx)
                .await
                .op("insert invoice lines")
            {
                result = Err(error);
                break;
            }
        }
        result
    }};
}

mod charge;

pub(crate) use charge::Charged;

const ACCOUNT_COLUMNS: &str =
    "org, currency, balance_minor, next_period_ms, grace_started_ms, stopped_ms";

#[derive(sqlx::FromRow)]
struct InvoiceRow {
    org: String,
    period_start_ms: i64,
    period_end_ms: i64,
    rule: String,
    currency: String,
    total_minor: i64,
    created_ms: i64,
}

#[derive(sqlx::FromRow)]
struct LineRow {
    org: String,
    period_start_ms: i64,
    description: String,
    quantity_micros: i64,
    unit: String,
    amount_minor: i64,
}

/// Why [`Store::charge_batch`] stored nothing for an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotCharged {
    /// The period is charged already (or the account's cursor is elsewhere).
    AlreadyCharged,
    /// The balance would leave the range of a 64-bit integer.
    Overflow,
}

impl Store {
    /// Opens `org`'s account if it has none (idempotent); returns the account.
    pub(crate) async fn ensure_account(
        &self,
        org: &str,
        currency: &str,
        first_period_ms: i64,
        opening_balance_minor: i64,
    ) -> Result<Account, StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO billing_accounts (org, currency, balance_minor, next_period_ms) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (org) DO NOTHING",
            )
            .bind(org)
            .bind(currency)
            .bind(opening_balance_minor)
            .bind(first_period_ms)
            .execute(pool)
            .await
            .op("open billing account")?;
        });
        self.account(org)
            .await?
            .ok_or_else(|| StoreError::OutOfRange {
                field: "billing_accounts.org",
                value: org.to_owned(),
            })
    }

    /// Opens the accounts of every `(org, first_period_ms)` that has none, in one transaction.
    pub(crate) async fn ensure_accounts(
        &self,
        orgs: &[(String, i64)],
        currency: &str,
        opening_balance_minor: i64,
    ) -> Result<(), StoreError> {
        if orgs.is_empty() {
            return Ok(());
        }
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.op("begin open accounts")?;
            for chunk in orgs.chunks(1_000) {
                let mut query = sqlx::QueryBuilder::new(
                    "INSERT INTO billing_accounts (org, currency, balance_minor, next_period_ms) ",
                );
                query.push_values(chunk, |mut row, (org, first)| {
                    row.push_bind(org)
                        .push_bind(currency)
                        .push_bind(opening_balance_minor)
                        .push_bind(*first);
                });
                query.push(" ON CONFLICT (org) DO NOTHING");
                query.build().execute(&mut *tx).await.op("open billing accounts")?;
            }
            tx.commit().await.op("commit open accounts")?;
        });
        Ok(())
    }

    /// `org`'s account.
    pub(crate) async fn account(&self, org: &str) -> Result<Option<Account>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ACCOUNT_COLUMNS} FROM billing_accounts WHERE org = $1"
            )))
            .bind(org)
            .fetch_optional(pool)
            .await
            .op("read billing account")?
        }))
    }

    /// Every account, by org.
    pub(crate) async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ACCOUNT_COLUMNS} FROM billing_accounts ORDER BY org"
            )))
            .fetch_all(pool)
            .await
            .op("list billing accounts")?
        }))
    }

    /// Sets or clears the grace start and the stop time of `org`'s account.
    pub(crate) async fn set_grace(
        &self,
        org: &str,
        grace_started_ms: Option<i64>,
        stopped_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE billing_accounts SET grace_started_ms = $2, stopped_ms = $3 WHERE org = $1",
            )
            .bind(org)
            .bind(grace_started_ms)
            .bind(stopped_ms)
            .execute(pool)
            .await
            .op("update billing grace")?;
        });
        Ok(())
    }

    /// Adds `amount_minor` (positive) to `org`'s balance; returns the balance after it, or
    /// `None` when the org has no account or the balance would overflow.
    pub(crate) async fn top_up(
        &self,
        org: &str,
        amount_minor: i64,
        at_ms: i64,
        reference: &str,
    ) -> Result<Option<i64>, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.op("begin top-up")?;
            let balance: Option<i64> = sqlx::query_scalar(
                "UPDATE billing_accounts SET balance_minor = balance_minor + $2 \
                 WHERE org = $1 AND balance_minor <= $3 RETURNING balance_minor",
            )
            .bind(org)
            .bind(amount_minor)
            .bind(i64::MAX - amount_minor)
            .fetch_optional(&mut *tx)
            .await
            .op("top up")?;
            let Some(balance) = balance else {
                tx.rollback().await.op("roll back top-up")?;
                return Ok(None);
            };
            insert_movement!(tx, org, at_ms, "top-up", amount_minor, balance, reference)?;
            tx.commit().await.op("commit top-up")?;
            Ok(Some(balance))
        })
    }

    /// `org`'s invoices with periods starting in `from_ms..to_ms`, oldest first, with lines.
    pub(crate) async fn invoices(
        &self,
        org: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<StoredInvoice>, StoreError> {
        let (rows, lines): (Vec<InvoiceRow>, Vec<LineRow>) = with_pool!(self, pool => {
            let rows = sqlx::query_as(
                "SELECT org, period_start_ms, period_end_ms, rule, currency, total_minor, \
                 created_ms FROM invoices WHERE org = $1 AND period_start_ms >= $2 \
                 AND period_start_ms < $3 ORDER BY period_start_ms",
            )
            .bind(org)
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(pool)
            .await
            .op("list invoices")?;
            let lines = sqlx::query_as(
                "SELECT org, period_start_ms, description, quantity_micros, unit, amount_minor \
                 FROM invoice_lines WHERE org = $1 AND period_start_ms >= $2 \
                 AND period_start_ms < $3 ORDER BY period_start_ms, line",
            )
            .bind(org)
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(pool)
            .await
            .op("list invoice lines")?;
            (rows, lines)
        });
        let mut invoices: Vec<StoredInvoice> = rows
            .into_iter()
            .map(|r| StoredInvoice {
                org: r.org,
                period_start_ms: r.period_start_ms,
                period_end_ms: r.period_end_ms,
                rule: r.rule,
                currency: r.currency,
                total_minor: r.total_minor,
                created_ms: r.created_ms,
                lines: Vec::new(),
            })
            .collect();
        for line in lines {
            if let Some(invoice) = invoices
                .iter_mut()
                .find(|i| i.org == line.org && i.period_start_ms == line.period_start_ms)
            {
                invoice.lines.push(StoredLine {
                    description: line.description,
                    quantity_micros: line.quantity_micros,
                    unit: line.unit,
                    amount_minor: line.amount_minor,
                });
            }
        }
        Ok(invoices)
    }

    /// `org`'s balance movements, oldest first.
    pub(crate) async fn movements(&self, org: &str) -> Result<Vec<Movement>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT org, seq, at_ms, kind, amount_minor, balance_minor, reference \
                 FROM balance_movements WHERE org = $1 ORDER BY seq",
            )
            .bind(org)
            .fetch_all(pool)
            .await
            .op("list balance movements")?
        }))
    }
}
