//! Helpers shared by the mappers' unit tests.

use rust_decimal::Decimal;

use super::{Mapped, Mapper, Requirement, Tables};
use crate::crm::{CrmRecord, Link};
use crate::error::RecordError;
use crate::object::SObject;
use crate::record::SfRecord;

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

/// The CRM record types a mapper produces, taken out of a [`CrmRecord`].
pub(super) trait Variant: Clone {
    fn pick(record: &CrmRecord) -> Option<&Self>;
}

macro_rules! variants {
    ($($variant:ident),* $(,)?) => {
        $(impl Variant for crate::crm::$variant {
            fn pick(record: &CrmRecord) -> Option<&Self> {
                match record {
                    CrmRecord::$variant(r) => Some(r),
                    _ => None,
                }
            }
        })*
    };
}

variants!(
    Account,
    Contact,
    Opportunity,
    Product,
    ProductPrice,
    Order,
    OrderLine,
    Quote,
    QuoteLine
);

/// Maps `rec` and returns the typed record with the whole [`Mapped`];
/// panics if the mapper produced another kind of record.
pub(super) fn map_as<T: Variant>(
    mapper: &dyn Mapper,
    rec: &SfRecord,
    tables: &Tables,
) -> Result<(T, Mapped), RecordError> {
    let m = mapper.map(rec, tables)?;
    let typed = T::pick(&m.record)
        .unwrap_or_else(|| panic!("{} mapped to {:?}", mapper.object(), m.record))
        .clone();
    Ok((typed, m))
}
