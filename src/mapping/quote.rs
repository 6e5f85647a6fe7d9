//! STUB: to be written.

use super::{LookupSpec, Mapped, Mapper, Tables};
use crate::{Problem, RecordError, SObject, SfRecord};

/// Maps `QUOTE` (stub).
#[derive(Debug, Clone, Copy, Default)]
pub struct QuoteMapper;

impl Mapper for QuoteMapper {
    fn object(&self) -> SObject {
        SObject::QUOTE
    }

    fn fields(&self) -> &[&'static str] {
        &["Id"]
    }

    fn lookups(&self) -> &[LookupSpec] {
        &[]
    }

    fn map(&self, record: &SfRecord, _tables: &Tables) -> Result<Mapped, RecordError> {
        Err(RecordError::new(SObject::QUOTE, record.id().ok(), "Id", Problem::Missing))
    }
}

/// Maps `QUOTE_LINE_ITEM` (stub).
#[derive(Debug, Clone, Copy, Default)]
pub struct QuoteLineItemMapper;

impl Mapper for QuoteLineItemMapper {
    fn object(&self) -> SObject {
        SObject::QUOTE_LINE_ITEM
    }

    fn fields(&self) -> &[&'static str] {
        &["Id"]
    }

    fn lookups(&self) -> &[LookupSpec] {
        &[]
    }

    fn imported_with(&self) -> Option<SObject> {
        Some(SObject::QUOTE)
    }

    fn map(&self, record: &SfRecord, _tables: &Tables) -> Result<Mapped, RecordError> {
        Err(RecordError::new(SObject::QUOTE_LINE_ITEM, record.id().ok(), "Id", Problem::Missing))
    }
}
