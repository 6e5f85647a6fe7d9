//! Helpers shared by the mappers' unit tests.

use rust_decimal::Decimal;

use super::{Mapped, Requirement};
use crate::SObject;
use crate::crm::Link;

/// A decimal from its text.
pub(super) fn dec(s: &str) -> Decimal {
    s.parse().expect("a decimal literal")
}

/// A mapped record's lookups as (field, target, link, requirement, 15-char id).
pub(super) fn lookups(m: &Mapped) -> Vec<(&str, SObject, Link, Requirement, &str)> {
    m.lookups
        .iter()
        .map(|l| {
            (
                l.spec.field.as_ref(),
                l.spec.target.clone(),
                l.spec.link.clone(),
                l.spec.requirement,
                l.sf_id.to_15(),
            )
        })
        .collect()
}
