//! Mappers: pure, synchronous functions from a Salesforce record to a typed
//! CRM record plus the Salesforce ids it refers to.
//!
//! Each [`Mapper`] declares the fields it reads (the engine builds the SOQL
//! `SELECT` from them) and the lookups it emits (field, target object,
//! required or optional). The engine orders objects by those lookups and
//! resolves them in one batched id-map query per page.
//!
//! A mapper never panics on what an org sends: a value it cannot use is a
//! [`RecordError`] naming the object, the Salesforce id and the field; a
//! value it can repair is repaired and reported as a warning.
//!
//! ```
//! use salesforce_import::mapping::{Mappers, Tables};
//! use salesforce_import::{crm::CrmRecord, SfRecord, SObject};
//!
//! let rec = SfRecord::new(SObject::ACCOUNT)
//!     .with("Id", "001x0000002xLCV")
//!     .with("Name", "Gravity Investments")
//!     .with("BillingCountry", "United States");
//! let mapped = Mappers::standard().get(&SObject::ACCOUNT).unwrap()
//!     .map(&rec, &Tables::default())?;
//! let CrmRecord::Account(account) = &mapped.record else { unreachable!() };
//! assert_eq!(account.name, "Gravity Investments");
//! assert_eq!(account.address.country.as_deref(), Some("US"));
//! # Ok::<(), salesforce_import::RecordError>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use rust_decimal::Decimal;

use crate::crm::{CrmRecord, Link};
use crate::error::{FieldError, RecordError};
use crate::id::SfId;
use crate::object::SObject;
use crate::record::SfRecord;

mod account;
mod contact;
mod opportunity;
mod order;
mod product;
mod quote;
mod reader;
mod tables;
#[cfg(test)]
mod testutil;

pub use account::AccountMapper;
pub use contact::ContactMapper;
pub use opportunity::OpportunityMapper;
pub use order::{OrderItemMapper, OrderMapper};
pub use product::{PricebookEntryMapper, ProductMapper};
pub use quote::{QuoteLineItemMapper, QuoteMapper};
pub use reader::{AddressPrefix, Reader};
pub use tables::{
    CountryTable, CustomField, Limits, Picklist, PicklistValue, StageMapping, Tables,
};

/// Whether a lookup must resolve for the record to be imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Requirement {
    /// Unresolved: the record is not imported (a per-record error).
    Required,
    /// Unresolved: the reference is left empty, with a warning.
    Optional,
}

/// A reference from one object to another, as a mapper declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LookupSpec {
    /// The Salesforce field holding the id (`AccountId`).
    pub field: Cow<'static, str>,
    /// The object referred to.
    pub target: SObject,
    /// Where the resolved CRM id goes.
    pub link: Link,
    /// Required or optional.
    pub requirement: Requirement,
}

impl LookupSpec {
    /// A required lookup.
    pub const fn required(field: &'static str, target: SObject, link: Link) -> LookupSpec {
        LookupSpec {
            field: Cow::Borrowed(field),
            target,
            link,
            requirement: Requirement::Required,
        }
    }

    /// An optional lookup.
    pub const fn optional(field: &'static str, target: SObject, link: Link) -> LookupSpec {
        LookupSpec {
            field: Cow::Borrowed(field),
            target,
            link,
            requirement: Requirement::Optional,
        }
    }
}

/// One lookup of one record: the Salesforce id it names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LookupValue {
    /// The declaration it came from.
    pub spec: LookupSpec,
    /// The Salesforce id found in the field.
    pub sf_id: SfId,
}

impl LookupValue {
    /// A lookup naming `sf_id`.
    pub fn new(spec: LookupSpec, sf_id: SfId) -> LookupValue {
        LookupValue { spec, sf_id }
    }
}

/// A mapped record: the CRM record with its references still unresolved,
/// the lookups to resolve, and the repairs made.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Mapped {
    /// The Salesforce record's id.
    pub sf_id: SfId,
    /// The CRM record; its [`Link`] slots are empty until the engine
    /// resolves the lookups.
    pub record: CrmRecord,
    /// The references to resolve.
    pub lookups: Vec<LookupValue>,
    /// Values that were repaired (cut to length, unknown country dropped, ...).
    pub warnings: Vec<FieldError>,
}

impl Mapped {
    /// A mapped record, for mappers that do not use [`Reader`].
    pub fn new(
        sf_id: SfId,
        record: CrmRecord,
        lookups: Vec<LookupValue>,
        warnings: Vec<FieldError>,
    ) -> Mapped {
        Mapped {
            sf_id,
            record,
            lookups,
            warnings,
        }
    }
}

/// Maps one Salesforce object to CRM records.
///
/// Implement it to map an object this crate does not know, or to replace a
/// standard mapper; register it with [`Mappers::with`].
pub trait Mapper: fmt::Debug + Send + Sync + 'static {
    /// The object mapped.
    fn object(&self) -> SObject;

    /// The Salesforce fields read (`Id` included). Dotted paths read a
    /// related record (`Pricebook2.IsStandard`).
    fn fields(&self) -> &[&'static str];

    /// The references this object makes to others.
    fn lookups(&self) -> &[LookupSpec];

    /// The object this one is imported with: selecting that object selects
    /// this one too (`OrderItem` with `Order`).
    fn imported_with(&self) -> Option<SObject> {
        None
    }

    /// Maps one record. Pure: no I/O, no clock, no panics.
    fn map(&self, record: &SfRecord, tables: &Tables) -> Result<Mapped, RecordError>;
}

/// A required money or quantity field: blank is [`Problem::Missing`](crate::Problem::Missing).
// RecordError is the crate's per-record error type, returned by value
// throughout the mapping API.
fn required_amount(r: &Reader<'_>, field: &'static str) -> Result<Decimal, RecordError> {
    r.amount(field)?
        .ok_or_else(|| r.error(field, crate::error::Problem::Missing))
}

/// `a * b` for a computed amount: overflow, or a result past the amount
/// range, is [`Problem::OutOfRange`](crate::Problem::OutOfRange) on `field`.
fn checked_product(
    r: &Reader<'_>,
    field: &'static str,
    a: Decimal,
    b: Decimal,
) -> Result<Decimal, RecordError> {
    let d = a.checked_mul(b).ok_or_else(|| {
        r.error(
            field,
            crate::error::Problem::OutOfRange {
                found: format!("{a} × {b}").into(),
            },
        )
    })?;
    r.check_amount(field, d)
}

/// The set of mappers an import uses, one per object.
#[derive(Debug, Clone)]
pub struct Mappers {
    mappers: Vec<Arc<dyn Mapper>>,
}

impl Mappers {
    /// The mappers for every standard object this crate imports.
    pub fn standard() -> Mappers {
        Mappers {
            mappers: vec![
                Arc::new(ProductMapper),
                Arc::new(PricebookEntryMapper),
                Arc::new(AccountMapper),
                Arc::new(ContactMapper),
                Arc::new(OpportunityMapper),
                Arc::new(OrderMapper),
                Arc::new(OrderItemMapper),
                Arc::new(QuoteMapper),
                Arc::new(QuoteLineItemMapper),
            ],
        }
    }

    /// No mappers at all.
    pub fn empty() -> Mappers {
        Mappers { mappers: vec![] }
    }

    /// Adds a mapper, replacing any mapper of the same object.
    pub fn with(mut self, mapper: impl Mapper) -> Mappers {
        let object = mapper.object();
        self.mappers.retain(|m| m.object() != object);
        self.mappers.push(Arc::new(mapper));
        self
    }

    /// The mapper of `object`.
    pub fn get(&self, object: &SObject) -> Option<&Arc<dyn Mapper>> {
        self.mappers.iter().find(|m| &m.object() == object)
    }

    /// Every mapper.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Mapper>> {
        self.mappers.iter()
    }

    /// The SOQL field list for `object`: the mapper's fields plus the
    /// host's extra fields, each once.
    pub fn select_fields(&self, object: &SObject, tables: &Tables) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let own = self.get(object).map(|m| m.fields()).unwrap_or(&[]);
        let extra = tables
            .custom_fields
            .iter()
            .filter(|c| &c.object == object)
            .map(|c| c.sf_field.as_str());
        for f in own.iter().copied().chain(extra) {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(f)) {
                out.push(f.to_owned());
            }
        }
        out
    }
}

impl Default for Mappers {
    fn default() -> Self {
        Mappers::standard()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// A record every standard mapper maps without error.
    fn valid(object: &SObject) -> SfRecord {
        let rec = SfRecord::new(object.clone());
        match object.as_str() {
            "Product2" => rec.with("Id", "01tx00000012345").with("Name", "Widget"),
            "PricebookEntry" => rec
                .with("Id", "01ux00000012345")
                .with("Product2Id", "01tx00000012345")
                .with("Pricebook2Id", "01sx00000012345")
                .with("UnitPrice", 10)
                .with("Pricebook2", json!({"IsStandard": true})),
            "Account" => rec.with("Id", "001x0000002xLCV").with("Name", "Acme"),
            "Contact" => rec.with("Id", "003x0000004TmFk").with("LastName", "Doe"),
            "Opportunity" => rec.with("Id", "006x00000012345").with("Name", "Deal"),
            "Order" => rec
                .with("Id", "801x00000012345")
                .with("AccountId", "001x0000002xLCV"),
            "OrderItem" => rec
                .with("Id", "802x00000012345")
                .with("OrderId", "801x00000012345")
                .with("Quantity", 2)
                .with("UnitPrice", 5),
            "Quote" => rec.with("Id", "0Q0x00000012345").with("Name", "Q"),
            "QuoteLineItem" => rec
                .with("Id", "0QLx00000012345")
                .with("QuoteId", "0Q0x00000012345")
                .with("Quantity", 2)
                .with("UnitPrice", 5),
            other => panic!("no valid record for {other}"),
        }
    }

    fn garbage() -> Vec<Value> {
        vec![
            Value::Null,
            json!(""),
            json!("   "),
            json!("x"),
            json!("9".repeat(400)),
            serde_json::from_str("1e300").unwrap(),
            json!(-1),
            json!(true),
            json!({}),
            json!([]),
            json!("2024-13-45"),
            json!("Zoë 東京"),
        ]
    }

    #[test]
    fn every_standard_object_has_a_mapper() {
        let mappers = Mappers::standard();
        for object in SObject::STANDARD {
            let m = mappers
                .get(&object)
                .unwrap_or_else(|| panic!("no mapper for {object}"));
            assert!(
                m.map(&valid(&object), &Tables::default()).is_ok(),
                "{object}"
            );
        }
    }

    #[test]
    fn fields_start_with_id_and_hold_every_lookup() {
        for m in Mappers::standard().iter() {
            let fields = m.fields();
            assert_eq!(fields.first(), Some(&"Id"), "{}", m.object());
            for (i, f) in fields.iter().enumerate() {
                assert!(
                    !fields[..i].iter().any(|g| g.eq_ignore_ascii_case(f)),
                    "{}: {f} twice",
                    m.object()
                );
            }
            for l in m.lookups() {
                assert!(
                    fields.contains(&l.field.as_ref()),
                    "{}: lookup {} not read",
                    m.object(),
                    l.field
                );
            }
        }
    }

    #[test]
    fn no_mapper_panics_on_garbage() {
        let tables = Tables::default();
        let mut tried = 0;
        for m in Mappers::standard().iter() {
            let object = m.object();
            for &field in m.fields() {
                for value in garbage() {
                    let mut rec = valid(&object);
                    match field.split_once('.') {
                        Some((relation, inner)) => {
                            rec.set(relation, json!({ inner: value.clone() }))
                        }
                        None => rec.set(field, value.clone()),
                    }
                    assert_eq!(
                        rec.value(field),
                        Some(value.clone()).filter(|v| !v.is_null()),
                        "{field} not set"
                    );
                    tried += 1;
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        m.map(&rec, &tables)
                    }));
                    let Ok(result) = result else {
                        panic!("{object}.{field} = {value} panicked");
                    };
                    if let Err(e) = result {
                        assert!(
                            e.field == field || e.field == "Id",
                            "{object}.{field} = {value}: error names {} ({e})",
                            e.field
                        );
                        assert_eq!(e.object, object);
                    }
                }
            }
        }
        assert!(tried > 800, "{tried}");
    }

    #[test]
    fn select_fields_adds_host_fields_once() {
        let tables = Tables::default()
            .with_custom_field(CustomField::new(
                SObject::CONTACT,
                "Nickname__c",
                "nickname",
            ))
            .with_custom_field(CustomField::new(SObject::CONTACT, "lastname", "dup"));
        let fields = Mappers::standard().select_fields(&SObject::CONTACT, &tables);
        assert_eq!(fields.first().map(String::as_str), Some("Id"));
        assert_eq!(fields.last().map(String::as_str), Some("Nickname__c"));
        assert_eq!(
            fields
                .iter()
                .filter(|f| f.eq_ignore_ascii_case("LastName"))
                .count(),
            1
        );
    }
}
