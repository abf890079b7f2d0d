//! Which services a listing covers: everything, one org, one stack or one service.

use sqlx::{Database, Encode, QueryBuilder, Type};

/// The part of the org → stack → service tree a listing covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope<'a> {
    /// Every org.
    All,
    /// One org.
    Org(&'a str),
    /// One stack of one org.
    Stack {
        /// The org.
        org: &'a str,
        /// The stack.
        stack: &'a str,
    },
    /// One service of one stack.
    Service {
        /// The org.
        org: &'a str,
        /// The stack.
        stack: &'a str,
        /// The service.
        service: &'a str,
    },
}

impl<'a> Scope<'a> {
    /// Appends ` WHERE …` (nothing for [`Scope::All`]) on the `org`, `stack` and `service`
    /// columns to `query`.
    pub(crate) fn push_where<DB>(self, query: &mut QueryBuilder<DB>)
    where
        DB: Database,
        &'a str: Encode<'a, DB> + Type<DB>,
    {
        let (org, stack, service) = match self {
            Scope::All => return,
            Scope::Org(org) => (org, None, None),
            Scope::Stack { org, stack } => (org, Some(stack), None),
            Scope::Service {
                org,
                stack,
                service,
            } => (org, Some(stack), Some(service)),
        };
        query.push(" WHERE org = ").push_bind(org);
        if let Some(stack) = stack {
            query.push(" AND stack = ").push_bind(stack);
        }
        if let Some(service) = service {
            query.push(" AND service = ").push_bind(service);
        }
    }
}
