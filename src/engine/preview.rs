//! A dry run: what an import would create, update, skip, delete and
//! reject, object by object, with nothing written.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Inner;
use super::ids::IdCache;
use super::page::{self, Decision};
use crate::error::{Error, RecordError, Result};
use crate::id::{CrmId, TenantId};
use crate::jobs::{IdKey, IdMapping, LogEntry};
use crate::object::SObject;

/// What one object of an import would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ObjectPreview {
    /// The object.
    pub object: SObject,
    /// Records read from Salesforce (deleted ones included in a sync).
    pub read: u64,
    /// New to the CRM: would be created.
    pub create: u64,
    /// Imported before and changed (or any, in [`WriteMode::Update`](crate::WriteMode::Update)): would be written over.
    pub update: u64,
    /// Imported before and left as they are.
    pub skip: u64,
    /// Deleted in Salesforce since they were imported: would be deleted in
    /// the CRM (a sync; a sink without deletions keeps them).
    pub delete: u64,
    /// Would fail: a value that cannot be mapped, or a required parent
    /// that is not in the CRM and not created by this import.
    pub reject: u64,
    /// The org does not have the object (or the source does not hold it).
    pub unavailable: bool,
}

/// What an import would do, written nowhere: see [`Importer::preview`](super::Importer::preview).
///
/// Rejections the CRM itself would make (a constraint of the host's
/// database) cannot be foreseen without writing: the real run may reject
/// more, never fewer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Preview {
    /// Per object, in the order the import would run them.
    pub objects: Vec<ObjectPreview>,
    /// The first rejections (object, Salesforce id, field, message), in
    /// the order the import would meet them.
    pub rejections: Vec<LogEntry>,
}

impl ObjectPreview {
    fn new(object: SObject) -> ObjectPreview {
        ObjectPreview {
            object,
            read: 0,
            create: 0,
            update: 0,
            skip: 0,
            delete: 0,
            reject: 0,
            unavailable: false,
        }
    }
}

impl Preview {
    /// The object's preview, if it is in the plan.
    pub fn object(&self, object: &SObject) -> Option<&ObjectPreview> {
        self.objects.iter().find(|o| &o.object == object)
    }

    /// Records that would be rejected, over every object.
    pub fn rejected(&self) -> u64 {
        self.objects.iter().map(|o| o.reject).sum()
    }
}

/// Records this dry run would have created, by object: lookups to them
/// resolve as they would in the real run, and a record met again is
/// skipped or updated as the real run would. About 50 bytes a record.
#[derive(Default)]
struct WouldCreate(HashMap<IdKey, Option<DateTime<Utc>>>);

/// The id-map entry a record the preview would create stands in with.
fn placeholder(modstamp: Option<DateTime<Utc>>) -> IdMapping {
    IdMapping::new(CrmId::new("(would be created)"), modstamp)
}

pub(crate) async fn preview(
    inner: &Inner,
    tenant: &TenantId,
    plan: Vec<SObject>,
    sync: bool,
    mode: crate::crm::WriteMode,
    max_rejections: usize,
) -> Result<Preview> {
    let mut out = Preview::default();
    let mut created = WouldCreate::default();
    for object in plan {
        let mut counts = ObjectPreview::new(object.clone());
        match preview_object(
            inner,
            tenant,
            &object,
            sync,
            mode,
            &mut created,
            &mut counts,
            &mut out.rejections,
            max_rejections,
        )
        .await
        {
            Ok(()) => {}
            Err(Error::ObjectNotAvailable { .. }) => counts.unavailable = true,
            Err(e) => return Err(e),
        }
        out.objects.push(counts);
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
async fn preview_object(
    inner: &Inner,
    tenant: &TenantId,
    object: &SObject,
    sync: bool,
    mode: crate::crm::WriteMode,
    created: &mut WouldCreate,
    counts: &mut ObjectPreview,
    rejections: &mut Vec<LogEntry>,
    max_rejections: usize,
) -> Result<()> {
    let mapper = inner
        .mappers
        .get(object)
        .cloned()
        .ok_or_else(|| Error::config(format!("no mapper for {object}")))?;
    let (request, _) = page::read_request(inner, tenant, object, sync).await?;
    let mut reject = |e: &RecordError, counts: &mut ObjectPreview| {
        counts.reject += 1;
        if rejections.len() < max_rejections {
            rejections.push(LogEntry::error(e));
        }
    };
    let mut cursor = None;
    loop {
        let req = request.clone().cursor(cursor);
        let page = inner
            .backoff
            .run("fetch page", || inner.source.fetch_page(tenant, &req))
            .await?;
        counts.read += page.records.len() as u64;
        let mut mapped = Vec::with_capacity(page.records.len());
        let mut gone = Vec::new();
        for record in &page.records {
            if record.is_deleted() {
                match record.id() {
                    Ok(id) => gone.push(id),
                    Err(e) => reject(&RecordError::from_field(object.clone(), None, e), counts),
                }
                continue;
            }
            match mapper.map(record, &inner.tables) {
                Ok(m) => mapped.push((m, record.modstamp())),
                Err(e) => reject(&e, counts),
            }
        }
        // No cache: a preview records nothing.
        let (keys, own) = page::page_keys(object, mapped.iter().map(|(m, _)| m), gone.iter());
        let earlier: Vec<(IdKey, Option<DateTime<Utc>>)> = keys
            .iter()
            .filter_map(|key| created.0.get(key).map(|stamp| (key.clone(), *stamp)))
            .collect();
        let mut known =
            page::resolve_page(inner, &IdCache::new(0), tenant, object, keys, &own).await?;
        drop(own);
        for (key, stamp) in earlier {
            if !known.contains(&key.0, &key.1) {
                known.insert(key, placeholder(stamp));
            }
        }
        let mut deferred = Vec::new();
        for (m, stamp) in mapped {
            let sf_id = m.sf_id.clone();
            match page::decide(object, m, stamp, &known, mode, &mut deferred) {
                Decision::Skip { .. } => counts.skip += 1,
                Decision::Fail(e) => reject(&e, counts),
                Decision::Write(w, _) if w.existing.is_some() => counts.update += 1,
                Decision::Write(..) => {
                    counts.create += 1;
                    let key = (object.clone(), sf_id);
                    created.0.insert(key.clone(), stamp);
                    known.insert(key, placeholder(stamp));
                }
            }
        }
        for id in gone {
            match known.get(object, &id) {
                Some(m) if !m.deleted => counts.delete += 1,
                _ => counts.skip += 1,
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}
