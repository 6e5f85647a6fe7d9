//! STUB engine, replaced next.
use std::sync::Arc;

use crate::{CrmSink, Error, Job, JobStore, Result, SObject, SalesforceSource, TenantId};

/// Progress event (stub).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ProgressEvent {
    /// Job finished.
    Finished(Job),
}

/// What to import (stub).
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// Who.
    pub started_by: String,
    /// Objects.
    pub objects: Vec<SObject>,
}

impl ImportRequest {
    /// New request.
    pub fn new(started_by: impl Into<String>, objects: impl IntoIterator<Item = SObject>) -> Self {
        ImportRequest { started_by: started_by.into(), objects: objects.into_iter().collect() }
    }
}

/// Importer (stub).
#[derive(Debug)]
pub struct Importer {}

/// Builder (stub).
#[derive(Debug)]
pub struct ImporterBuilder {}

impl Importer {
    /// Builder.
    pub fn builder(_s: Arc<dyn SalesforceSource>, _k: Arc<dyn CrmSink>, _j: Arc<dyn JobStore>) -> ImporterBuilder {
        ImporterBuilder {}
    }
    /// Start.
    pub async fn start(&self, _t: &TenantId, _r: ImportRequest) -> Result<ImportHandle> {
        Err(Error::config("stub"))
    }
}

impl ImporterBuilder {
    /// Build.
    pub fn build(self) -> Result<Importer> {
        Ok(Importer {})
    }
}

/// Handle (stub).
#[derive(Debug)]
pub struct ImportHandle {}

impl ImportHandle {
    /// Wait.
    pub async fn wait(self) -> Result<Job> {
        Err(Error::config("stub"))
    }
}
