//! STUB: sObject Tree / query-result JSON files.

use async_trait::async_trait;

use super::{Page, PageRequest, SalesforceSource};
use crate::{Result, TenantId};

/// Reads records from sObject Tree JSON and REST query-result JSON files (stub).
#[derive(Debug, Default)]
pub struct FileSource {}

impl FileSource {
    /// The bundled sample org (stub).
    pub fn sample_org() -> FileSource {
        FileSource {}
    }
}

#[async_trait]
impl SalesforceSource for FileSource {
    async fn fetch_page(&self, _tenant: &TenantId, _request: &PageRequest) -> Result<Page> {
        Ok(Page::last(vec![]))
    }
}
