//! STUB: to be written.

use super::{LookupSpec, Mapped, Mapper, Tables};
use crate::{Problem, RecordError, SObject, SfRecord};

/// Maps `CONTACT` (stub).
#[derive(Debug, Clone, Copy, Default)]
pub struct ContactMapper;

impl Mapper for ContactMapper {
    fn object(&self) -> SObject {
        SObject::CONTACT
    }

    fn fields(&self) -> &[&'static str] {
        &["Id"]
    }

    fn lookups(&self) -> &[LookupSpec] {
        &[]
    }

    fn map(&self, record: &SfRecord, _tables: &Tables) -> Result<Mapped, RecordError> {
        Err(RecordError::new(SObject::CONTACT, record.id().ok(), "Id", Problem::Missing))
    }
}
