//! `SELECT COUNT() FROM <object>` for [`RestSource`](super::RestSource):
//! the org's live records per object, shown beside each object before an
//! import, kept a minute per tenant and object.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::RestSource;
use crate::error::{ApiErrorCode, Error, Result};
use crate::http::client::Get;
use crate::id::TenantId;
use crate::object::SObject;

/// How long a count is kept: an admin opening the import page twice, or
/// several admins of one org, cost one query per object a minute.
pub(super) const COUNT_TTL: Duration = Duration::from_secs(60);

/// Counts by tenant and object, with when they were read; `None` for an
/// object the org does not have.
type Counts = HashMap<(TenantId, SObject), (Instant, Option<u64>)>;

/// The counts kept.
#[derive(Debug, Default)]
pub(super) struct CountCache(Mutex<Counts>);

impl CountCache {
    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fresh(&self, key: &(TenantId, SObject)) -> Option<Option<u64>> {
        let mut cache = self.lock();
        match cache.get(key) {
            Some((at, n)) if at.elapsed() < COUNT_TTL => Some(*n),
            Some(_) => {
                cache.remove(key);
                None
            }
            None => None,
        }
    }

    fn keep(&self, key: (TenantId, SObject), count: Option<u64>) {
        self.lock().insert(key, (Instant::now(), count));
    }
}

/// A `COUNT()` query's answer: no records, only `totalSize`.
#[derive(Debug, Deserialize)]
struct CountResult {
    #[serde(rename = "totalSize")]
    total_size: u64,
}

impl RestSource {
    /// The org's live records of `object` (`query`, not `queryAll`: the
    /// recycle bin is not counted), from the cache while it is fresh. An
    /// object the org does not have is [`Error::ObjectNotAvailable`]
    /// (kept as long).
    pub(super) async fn count(&self, tenant: &TenantId, object: &SObject) -> Result<u64> {
        let key = (tenant.clone(), object.clone());
        let unavailable = || Error::ObjectNotAvailable {
            object: object.clone(),
        };
        match self.counts.fresh(&key) {
            Some(Some(n)) => return Ok(n),
            Some(None) => return Err(unavailable()),
            None => {}
        }
        // An object name is letters, digits and underscores (checked by
        // the caller): nothing to escape.
        let soql = format!("SELECT COUNT() FROM {object}");
        let path = format!("{}/query", self.data_path);
        let name = format!("count {object} ({soql})");
        let get = Get {
            query: &[("q", &soql)],
            ..Get::new(&path, &name)
        };
        match self.api.get::<CountResult>(tenant, &get).await {
            Ok(answer) => {
                let n = answer.body.total_size;
                self.counts.keep(key, Some(n));
                Ok(n)
            }
            // Not in this org (Orders or Quotes not enabled): kept too.
            Err(Error::Api {
                code: ApiErrorCode::InvalidType | ApiErrorCode::NotFound,
                ..
            }) => {
                self.counts.keep(key, None);
                Err(unavailable())
            }
            Err(e) => Err(e),
        }
    }
}
