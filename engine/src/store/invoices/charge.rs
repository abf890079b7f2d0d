//! Charging a cycle's invoices: [`Store::charge_batch`] writes a batch of orgs' invoices in
//! one transaction with a few set-wise statements, and falls back to one savepoint per invoice
//! ([`Store::charge_each`]) when the set-wise path finds anything unexpected.

use sqlx::QueryBuilder;

use super::NotCharged;
use crate::billing::{StoredInvoice, StoredLine};
use crate::store::Store;
use crate::store::error::{QueryContext, StoreError, to_sql_int};

/// What [`Store::charge_batch`] left an account at after charging it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Charged {
    /// The balance after the charge.
    pub balance_minor: i64,
    /// When its grace period started: now, when this charge took the balance below zero.
    pub grace_started_ms: Option<i64>,
}

impl Store {
    /// Stores each invoice, deducts its total and moves its account's cursor to the given
    /// next period, if the cursor is at the invoice's period; returns each invoice's outcome
    /// in order (the balance after it, or why nothing was stored). At most one invoice per
    /// org. One transaction for the batch: the accounts' cursors are moved first in one
    /// statement, guarded by where they are (a second engine charging the same periods waits
    /// for the first one's row locks and then finds the cursors moved), then the invoices
    /// (their unique key backs the guard up), lines and movements of the orgs charged.
    pub(crate) async fn charge_batch(
        &self,
        invoices: &[(&StoredInvoice, i64)],
    ) -> Result<Vec<Result<Charged, NotCharged>>, StoreError> {
        if invoices.is_empty() {
            return Ok(Vec::new());
        }
        match self.charge_set_wise(invoices).await? {
            Some(outcomes) => Ok(outcomes),
            None => self.charge_each(invoices).await,
        }
    }

    /// The set-wise path; `None` (nothing stored) when an invoice's key was taken although its
    /// account's cursor pointed at it, which only a hand-edited store can do.
    async fn charge_set_wise(
        &self,
        invoices: &[(&StoredInvoice, i64)],
    ) -> Result<Option<Vec<Result<Charged, NotCharged>>>, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.op("begin charge batch")?;
            // The bound keeps each subtraction inside a 64-bit integer (SQLite would turn an
            // overflowing integer into a float).
            let mut update = QueryBuilder::new(
                "WITH v (org, start_ms, total, next_ms, bound, now_ms) AS (",
            );
            update.push_values(invoices, |mut row, (invoice, next)| {
                row.push_bind(&invoice.org)
                    .push_bind(invoice.period_start_ms)
                    .push_bind(invoice.total_minor)
                    .push_bind(*next)
                    .push_bind(i64::MIN + invoice.total_minor)
                    .push_bind(invoice.created_ms);
            });
            update.push(
                ") UPDATE billing_accounts SET \
                 balance_minor = billing_accounts.balance_minor - v.total, \
                 next_period_ms = v.next_ms, \
                 grace_started_ms = CASE WHEN billing_accounts.grace_started_ms IS NULL \
                 AND billing_accounts.balance_minor - v.total < 0 THEN v.now_ms \
                 ELSE billing_accounts.grace_started_ms END FROM v \
                 WHERE billing_accounts.org = v.org \
                 AND billing_accounts.next_period_ms = v.start_ms \
                 AND billing_accounts.balance_minor >= v.bound \
                 RETURNING billing_accounts.org, billing_accounts.balance_minor, \
                 billing_accounts.grace_started_ms",
            );
            let moved: Vec<(String, i64, Option<i64>)> = update
                .build_query_as()
                .fetch_all(&mut *tx)
                .await
                .op("deduct invoices")?;
            let balances: std::collections::HashMap<String, Charged> = moved
                .into_iter()
                .map(|(org, balance_minor, grace_started_ms)| {
                    (org, Charged { balance_minor, grace_started_ms })
                })
                .collect();
            let charged: Vec<(&StoredInvoice, i64)> = invoices
                .iter()
                .filter_map(|(invoice, _)| {
                    balances.get(&invoice.org).map(|c| (*invoice, c.balance_minor))
                })
                .collect();
            if !charged.is_empty() {
                let mut insert = QueryBuilder::new(
                    "INSERT INTO invoices (org, period_start_ms, period_end_ms, rule, currency, \
                     total_minor, created_ms) ",
                );
                insert.push_values(&charged, |mut row, (invoice, _)| {
                    row.push_bind(&invoice.org)
                        .push_bind(invoice.period_start_ms)
                        .push_bind(invoice.period_end_ms)
                        .push_bind(&invoice.rule)
                        .push_bind(&invoice.currency)
                        .push_bind(invoice.total_minor)
                        .push_bind(invoice.created_ms);
                });
                insert.push(" ON CONFLICT (org, period_start_ms) DO NOTHING");
                let inserted = insert
                    .build()
                    .execute(&mut *tx)
                    .await
                    .op("insert invoices")?
                    .rows_affected();
                if usize::try_from(inserted).ok() != Some(charged.len()) {
                    tx.rollback().await.op("roll back charge batch")?;
                    return Ok(None);
                }
                let mut lines: Vec<(&StoredInvoice, i64, &StoredLine)> = Vec::new();
                for (invoice, _) in &charged {
                    for (n, line) in invoice.lines.iter().enumerate() {
                        lines.push((invoice, to_sql_int("invoice_lines.line", n)?, line));
                    }
                }
                // 7 parameters a line, 1,000 lines a statement.
                for chunk in lines.chunks(1_000) {
                    let mut query = QueryBuilder::new(
                        "INSERT INTO invoice_lines (org, period_start_ms, line, description, \
                         quantity_micros, unit, amount_minor) ",
                    );
                    query.push_values(chunk, |mut row, (invoice, number, line)| {
                        row.push_bind(&invoice.org)
                            .push_bind(invoice.period_start_ms)
                            .push_bind(*number)
                            .push_bind(&line.description)
                            .push_bind(line.quantity_micros)
                            .push_bind(&line.unit)
                            .push_bind(line.amount_minor);
                    });
                    query.build().execute(&mut *tx).await.op("insert invoice lines")?;
                }
                let mut movements = QueryBuilder::new(
                    "INSERT INTO balance_movements (org, seq, at_ms, kind, amount_minor, \
                     balance_minor, reference) ",
                );
                movements.push_values(&charged, |mut row, (invoice, balance)| {
                    row.push_bind(&invoice.org)
                        .push("(SELECT COALESCE(MAX(seq), 0) + 1 FROM balance_movements WHERE org = ")
                        .push_bind_unseparated(&invoice.org)
                        .push_unseparated(")")
                        .push_bind(invoice.created_ms)
                        .push_bind("invoice")
                        .push_bind(-invoice.total_minor)
                        .push_bind(*balance)
                        .push_bind(invoice.period_start_ms.to_string());
                });
                movements.build().execute(&mut *tx).await.op("insert balance movements")?;
                crate::failpoint::point("billing.in-transaction").await;
            }
            let mut outcomes = Vec::with_capacity(invoices.len());
            for (invoice, _) in invoices {
                outcomes.push(match balances.get(&invoice.org) {
                    Some(charged) => Ok(*charged),
                    None => {
                        let cursor: Option<i64> = sqlx::query_scalar(
                            "SELECT next_period_ms FROM billing_accounts WHERE org = $1",
                        )
                        .bind(&invoice.org)
                        .fetch_optional(&mut *tx)
                        .await
                        .op("read billing cursor")?;
                        Err(if cursor == Some(invoice.period_start_ms) {
                            NotCharged::Overflow
                        } else {
                            NotCharged::AlreadyCharged
                        })
                    }
                });
            }
            tx.commit().await.op("commit charge batch")?;
            Ok(Some(outcomes))
        })
    }

    /// [`Store::charge_batch`] one invoice at a time, each in a savepoint of its own, so one that finds its period charged (or would
    /// overflow its balance) stores nothing and the others still commit. Returns each
    /// invoice's outcome, in order. The account's cursor is moved first, guarded by where it
    /// is: a second engine charging the same period waits for the first one's row lock and
    /// then finds the cursor moved; the invoice's unique key backs that up.
    async fn charge_each(
        &self,
        invoices: &[(&StoredInvoice, i64)],
    ) -> Result<Vec<Result<Charged, NotCharged>>, StoreError> {
        use sqlx::Acquire as _;
        let mut outcomes = Vec::with_capacity(invoices.len());
        if invoices.is_empty() {
            return Ok(outcomes);
        }
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.op("begin charge batch")?;
            for (invoice, next_period_ms) in invoices {
                let total = invoice.total_minor;
                let mut one = (&mut tx).begin().await.op("begin charge savepoint")?;
                // The bound keeps the subtraction inside a 64-bit integer (SQLite would turn
                // an overflowing integer into a float).
                let moved: Option<(i64, Option<i64>)> = sqlx::query_as(
                    "UPDATE billing_accounts SET balance_minor = balance_minor - $3, \
                     next_period_ms = $4, grace_started_ms = CASE WHEN grace_started_ms IS NULL \
                     AND balance_minor - $3 < 0 THEN $6 ELSE grace_started_ms END \
                     WHERE org = $1 AND next_period_ms = $2 AND balance_minor >= $5 \
                     RETURNING balance_minor, grace_started_ms",
                )
                .bind(&invoice.org)
                .bind(invoice.period_start_ms)
                .bind(total)
                .bind(*next_period_ms)
                .bind(i64::MIN + total)
                .bind(invoice.created_ms)
                .fetch_optional(&mut *one)
                .await
                .op("deduct invoice")?;
                let Some((balance, grace_started_ms)) = moved else {
                    let cursor: Option<i64> = sqlx::query_scalar(
                        "SELECT next_period_ms FROM billing_accounts WHERE org = $1",
                    )
                    .bind(&invoice.org)
                    .fetch_optional(&mut *one)
                    .await
                    .op("read billing cursor")?;
                    one.rollback().await.op("roll back charge savepoint")?;
                    outcomes.push(Err(if cursor == Some(invoice.period_start_ms) {
                        NotCharged::Overflow
                    } else {
                        NotCharged::AlreadyCharged
                    }));
                    continue;
                };
                let inserted = sqlx::query(
                    "INSERT INTO invoices (org, period_start_ms, period_end_ms, rule, currency, \
                     total_minor, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (org, period_start_ms) DO NOTHING",
                )
                .bind(&invoice.org)
                .bind(invoice.period_start_ms)
                .bind(invoice.period_end_ms)
                .bind(&invoice.rule)
                .bind(&invoice.currency)
                .bind(total)
                .bind(invoice.created_ms)
                .execute(&mut *one)
                .await
                .op("insert invoice")?
                .rows_affected();
                if inserted == 0 {
                    one.rollback().await.op("roll back charge savepoint")?;
                    outcomes.push(Err(NotCharged::AlreadyCharged));
                    continue;
                }
                insert_lines!(one, invoice)?;
                insert_movement!(one, &invoice.org, invoice.created_ms, "invoice", -total,
                    balance, invoice.period_start_ms.to_string())?;
                one.commit().await.op("release charge savepoint")?;
                outcomes.push(Ok(Charged {
                    balance_minor: balance,
                    grace_started_ms,
                }));
            }
            tx.commit().await.op("commit charge batch")?;
        });
        Ok(outcomes)
    }
}
