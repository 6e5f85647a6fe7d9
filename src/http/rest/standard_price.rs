//! The standard price book, when a price book entry's
//! `Pricebook2.IsStandard` cannot be read (an org or API version where the
//! relationship or the field is not visible): its id is queried once and
//! each entry's `Pricebook2Id` compared with it, with a warning saying so.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde_json::json;

use super::{DESCRIBE_TTL, RestSource};
use crate::error::{Error, ErrorKind, FieldError, Problem, Result};
use crate::http::client::Get;
use crate::id::{SfId, TenantId};
use crate::object::SObject;
use crate::source::{Page, PageRequest};

/// The path the price book entry mapper reads.
const IS_STANDARD: &str = "Pricebook2.IsStandard";

/// The standard price book's id by tenant (`None`: the org has none that
/// could be found), with when it was read.
pub(super) type StandardPriceBooks = Mutex<HashMap<TenantId, (Instant, Option<SfId>)>>;

impl RestSource {
    /// Whether one of `targets` (a lookup's objects) has `field`.
    pub(super) async fn target_has_field(
        &self,
        tenant: &TenantId,
        targets: &[String],
        field: &str,
    ) -> Result<bool> {
        if field.contains('.') {
            // Deeper paths are not checked: the query says.
            return Ok(true);
        }
        for target in targets {
            match self.describe(tenant, &SObject::new(target)).await {
                Ok(d) => {
                    if d.fields.iter().any(|f| f.name.eq_ignore_ascii_case(field)) {
                        return Ok(true);
                    }
                }
                Err(Error::ObjectNotAvailable { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// Gives each price book entry of `page` its `Pricebook2.IsStandard`
    /// from the standard price book's id when the org could not (the field
    /// was left out of the query), and says so once, on the first page.
    pub(super) async fn fill_is_standard(
        &self,
        tenant: &TenantId,
        request: &PageRequest,
        mut page: Page,
    ) -> Result<Page> {
        let wanted = request.object == SObject::PRICEBOOK_ENTRY
            && request
                .fields
                .iter()
                .any(|f| f.eq_ignore_ascii_case(IS_STANDARD));
        if !wanted || page.records.is_empty() {
            return Ok(page);
        }
        let (kept, _) = self.available_fields(tenant, request).await?;
        if kept.iter().any(|f| f.eq_ignore_ascii_case(IS_STANDARD)) {
            return Ok(page);
        }
        let Some(standard) = self.standard_price_book(tenant).await? else {
            // The page keeps its warning: prices are left empty.
            return Ok(page);
        };
        for record in &mut page.records {
            if let Ok(Some(book)) = record.sf_id("Pricebook2Id") {
                record.set(
                    "Pricebook2",
                    json!({"attributes": {"type": "Pricebook2"}, "IsStandard": book == standard}),
                );
            }
        }
        for w in &mut page.warnings {
            if w.field.eq_ignore_ascii_case(IS_STANDARD) && w.problem == Problem::NotInOrg {
                *w = FieldError::new(
                    IS_STANDARD,
                    Problem::Fallback {
                        used: format!(
                            "Pricebook2Id compared with the standard price book's id {standard} (queried once)"
                        )
                        .into(),
                    },
                );
            }
        }
        Ok(page)
    }

    /// The standard price book's id: `IsStandard = true`, or, where the org
    /// hides that field too, the price book Salesforce names "Standard
    /// Price Book". Kept as long as a describe answer.
    async fn standard_price_book(&self, tenant: &TenantId) -> Result<Option<SfId>> {
        if let Some((at, id)) = self.lock_standard().get(tenant)
            && at.elapsed() < DESCRIBE_TTL
        {
            return Ok(id.clone());
        }
        let by_flag = self
            .target_has_field(tenant, &["Pricebook2".to_owned()], "IsStandard")
            .await?;
        let soql = if by_flag {
            "SELECT Id FROM Pricebook2 WHERE IsStandard = true LIMIT 1"
        } else {
            "SELECT Id FROM Pricebook2 WHERE Name = 'Standard Price Book' LIMIT 1"
        };
        let path = format!("{}/query", self.data_path);
        let get = Get {
            query: &[("q", soql)],
            ..Get::new(&path, "query the standard price book")
        };
        let id = match self.query(tenant, &SObject::new("Pricebook2"), &get).await {
            Ok(page) => page.records.first().and_then(|r| r.id().ok()),
            Err(Error::ObjectNotAvailable { .. }) => None,
            // Refused (a field or object this user cannot see): prices stay
            // empty, as the entries' warning says; nothing else stops.
            Err(e) if e.kind() == ErrorKind::Permanent => {
                tracing::warn!(error = %e, "could not query the standard price book");
                None
            }
            Err(e) => return Err(e),
        };
        match &id {
            Some(id) => tracing::info!(%id, "found the standard price book by its id"),
            None => tracing::warn!("no standard price book found: prices are left empty"),
        }
        self.lock_standard()
            .insert(tenant.clone(), (Instant::now(), id.clone()));
        Ok(id)
    }

    fn lock_standard(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<TenantId, (Instant, Option<SfId>)>> {
        self.standard_price_books
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}
