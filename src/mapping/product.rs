//! STUB: to be written.

use super::{LookupSpec, Mapped, Mapper, Tables};
use crate::{Problem, RecordError, SObject, SfRecord};

/// Maps `PRODUCT2` (stub).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProductMapper;

impl Mapper for ProductMapper {
    fn object(&self) -> SObject {
        SObject::PRODUCT2
    }

    fn fields(&self) -> &[&'static str] {
        &["Id"]
    }

    fn lookups(&self) -> &[LookupSpec] {
        &[]
    }

    fn map(&self, record: &SfRecord, _tables: &Tables) -> Result<Mapped, RecordError> {
        Err(RecordError::new(SObject::PRODUCT2, record.id().ok(), "Id", Problem::Missing))
    }
}

/// Maps `PRICEBOOK_ENTRY` (stub).
#[derive(Debug, Clone, Copy, Default)]
pub struct PricebookEntryMapper;

impl Mapper for PricebookEntryMapper {
    fn object(&self) -> SObject {
        SObject::PRICEBOOK_ENTRY
    }

    fn fields(&self) -> &[&'static str] {
        &["Id"]
    }

    fn lookups(&self) -> &[LookupSpec] {
        &[]
    }

    fn imported_with(&self) -> Option<SObject> {
        Some(SObject::PRODUCT2)
    }

    fn map(&self, record: &SfRecord, _tables: &Tables) -> Result<Mapped, RecordError> {
        Err(RecordError::new(SObject::PRICEBOOK_ENTRY, record.id().ok(), "Id", Problem::Missing))
    }
}
