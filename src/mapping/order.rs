//! STUB: to be written.

use super::{LookupSpec, Mapped, Mapper, Tables};
use crate::{Problem, RecordError, SObject, SfRecord};

/// Maps `ORDER` (stub).
#[derive(Debug, Clone, Copy, Default)]
pub struct OrderMapper;

impl Mapper for OrderMapper {
    fn object(&self) -> SObject {
        SObject::ORDER
    }

    fn fields(&self) -> &[&'static str] {
        &["Id"]
    }

    fn lookups(&self) -> &[LookupSpec] {
        &[]
    }

    fn map(&self, record: &SfRecord, _tables: &Tables) -> Result<Mapped, RecordError> {
        Err(RecordError::new(SObject::ORDER, record.id().ok(), "Id", Problem::Missing))
    }
}

/// Maps `ORDER_ITEM` (stub).
#[derive(Debug, Clone, Copy, Default)]
pub struct OrderItemMapper;

impl Mapper for OrderItemMapper {
    fn object(&self) -> SObject {
        SObject::ORDER_ITEM
    }

    fn fields(&self) -> &[&'static str] {
        &["Id"]
    }

    fn lookups(&self) -> &[LookupSpec] {
        &[]
    }

    fn imported_with(&self) -> Option<SObject> {
        Some(SObject::ORDER)
    }

    fn map(&self, record: &SfRecord, _tables: &Tables) -> Result<Mapped, RecordError> {
        Err(RecordError::new(SObject::ORDER_ITEM, record.id().ok(), "Id", Problem::Missing))
    }
}
