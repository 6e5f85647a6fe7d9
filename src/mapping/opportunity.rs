//! STUB: to be written.

use super::{LookupSpec, Mapped, Mapper, Tables};
use crate::{Problem, RecordError, SObject, SfRecord};

/// Maps `OPPORTUNITY` (stub).
#[derive(Debug, Clone, Copy, Default)]
pub struct OpportunityMapper;

impl Mapper for OpportunityMapper {
    fn object(&self) -> SObject {
        SObject::OPPORTUNITY
    }

    fn fields(&self) -> &[&'static str] {
        &["Id"]
    }

    fn lookups(&self) -> &[LookupSpec] {
        &[]
    }

    fn map(&self, record: &SfRecord, _tables: &Tables) -> Result<Mapped, RecordError> {
        Err(RecordError::new(SObject::OPPORTUNITY, record.id().ok(), "Id", Problem::Missing))
    }
}
