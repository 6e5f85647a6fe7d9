//! [`PerOrgLimit`]: at most N Salesforce requests in flight per org.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::Semaphore;

use super::{Page, PageRequest, SalesforceSource};
use crate::error::Result;
use crate::id::TenantId;
use crate::object::SObject;

/// Salesforce's limit on concurrent long-running requests (20 s or more)
/// per org in production.
pub const SALESFORCE_CONCURRENT_REQUESTS: usize = 25;

/// A [`SalesforceSource`] that lets at most `limit` page fetches per tenant
/// (one tenant is one Salesforce org) run at once in this process; the
/// others wait their turn.
///
/// Salesforce allows 25 concurrent long-running requests per production
/// org (the default here, [`SALESFORCE_CONCURRENT_REQUESTS`]); beyond that
/// it answers `REQUEST_LIMIT_EXCEEDED`. One import issues one request at a
/// time, so the cap matters when one process runs many imports, or
/// previews, of one org, or shares the org's allowance with other tools:
/// give each of P processes `25 / P` (or less) to keep the whole fleet
/// under the org's limit. Tenants do not wait for each other.
///
/// ```
/// use std::sync::Arc;
/// use salesforce_import::FileSource;
/// use salesforce_import::source::PerOrgLimit;
/// let source = PerOrgLimit::new(Arc::new(FileSource::sample_org())).limit(5);
/// assert_eq!(source.max_in_flight(), 5);
/// ```
pub struct PerOrgLimit {
    inner: Arc<dyn SalesforceSource>,
    limit: usize,
    orgs: Mutex<HashMap<TenantId, Arc<Semaphore>>>,
}

impl PerOrgLimit {
    /// Wraps `inner` with the default cap of 25 requests per org.
    pub fn new(inner: Arc<dyn SalesforceSource>) -> PerOrgLimit {
        PerOrgLimit {
            inner,
            limit: SALESFORCE_CONCURRENT_REQUESTS,
            orgs: Mutex::default(),
        }
    }

    /// At most `limit` requests per org at once (at least 1).
    pub fn limit(mut self, limit: usize) -> PerOrgLimit {
        self.limit = limit.max(1);
        self
    }

    /// The cap per org.
    pub fn max_in_flight(&self) -> usize {
        self.limit
    }

    /// Requests of `tenant` running now through this wrapper.
    pub fn in_flight(&self, tenant: &TenantId) -> usize {
        let orgs = self.orgs.lock().unwrap_or_else(|p| p.into_inner());
        orgs.get(tenant)
            .map_or(0, |s| self.limit - s.available_permits())
    }

    fn semaphore(&self, tenant: &TenantId) -> Arc<Semaphore> {
        let mut orgs = self.orgs.lock().unwrap_or_else(|p| p.into_inner());
        orgs.entry(tenant.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(self.limit)))
            .clone()
    }
}

impl fmt::Debug for PerOrgLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerOrgLimit")
            .field("inner", &self.inner)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SalesforceSource for PerOrgLimit {
    async fn fetch_page(&self, tenant: &TenantId, request: &PageRequest) -> Result<Page> {
        let semaphore = self.semaphore(tenant);
        // Never closed: acquire fails only on a closed semaphore.
        let _permit = semaphore.acquire_owned().await.ok();
        self.inner.fetch_page(tenant, request).await
    }

    async fn count_records(&self, tenant: &TenantId, object: &SObject) -> Result<Option<u64>> {
        let semaphore = self.semaphore(tenant);
        let _permit = semaphore.acquire_owned().await.ok();
        self.inner.count_records(tenant, object).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::object::SObject;

    #[derive(Debug, Default)]
    struct Slow {
        now: AtomicUsize,
        peak: AtomicUsize,
    }

    #[async_trait]
    impl SalesforceSource for Slow {
        async fn fetch_page(&self, _: &TenantId, _: &PageRequest) -> Result<Page> {
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(n, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
            Ok(Page::last(vec![]))
        }
    }

    #[tokio::test]
    async fn caps_requests_per_org_not_across_orgs() {
        let slow = Arc::new(Slow::default());
        let limited = Arc::new(PerOrgLimit::new(slow.clone()).limit(3));
        let req = PageRequest::new(SObject::ACCOUNT, vec!["Id".into()], 10);
        let calls: Vec<_> = (0..10)
            .map(|_| {
                let (l, r) = (limited.clone(), req.clone());
                tokio::spawn(async move { l.fetch_page(&TenantId::new("a"), &r).await })
            })
            .collect();
        for c in calls {
            c.await.unwrap().unwrap();
        }
        assert_eq!(slow.peak.load(Ordering::SeqCst), 3);
        let slow = Arc::new(Slow::default());
        let limited = Arc::new(PerOrgLimit::new(slow.clone()).limit(1));
        let calls: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|t| {
                let (l, r) = (limited.clone(), req.clone());
                tokio::spawn(async move { l.fetch_page(&TenantId::new(t), &r).await })
            })
            .collect();
        for c in calls {
            c.await.unwrap().unwrap();
        }
        assert_eq!(
            slow.peak.load(Ordering::SeqCst),
            3,
            "orgs do not wait for each other"
        );
    }
}
