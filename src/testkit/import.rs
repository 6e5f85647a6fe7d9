//! Conformance checks that use a [`CrmSink`] and a [`JobStore`] together,
//! the way the engine does: write a page, then record its mappings.

use super::{fixture, unique_tenant};
use crate::id::CrmId;
use crate::jobs::{IdKey, JobStore};
use crate::object::SObject;
use crate::sink::{CrmSink, WriteAction, WriteBatch, WriteMode};

/// Ids the sink returned, recorded with `record_page`, come back from
/// `resolve_ids`; an Update-mode write that passes them as `existing`
/// updates the same records.
pub async fn ids_written_then_recorded_resolve(sink: &dyn CrmSink, jobs: &dyn JobStore) {
    let tenant = unique_tenant();
    let job = jobs
        .create_job(&fixture::new_job(
            &tenant,
            &[SObject::ACCOUNT],
            fixture::at(0),
        ))
        .await
        .expect("create_job");
    let ids = fixture::sf_ids(&SObject::ACCOUNT, 4);
    let batch = WriteBatch::new(
        SObject::ACCOUNT,
        WriteMode::SkipExisting,
        ids.iter().map(fixture::account).collect(),
    );
    let out = sink
        .write_batch(&tenant, &batch)
        .await
        .expect("write_batch");
    let written: Vec<CrmId> = out
        .into_iter()
        .map(|r| r.expect("account written").crm_id)
        .collect();
    let mappings = ids.iter().cloned().zip(written.iter().cloned()).collect();
    jobs.record_page(
        &tenant,
        &job.id,
        &SObject::ACCOUNT,
        &fixture::page(4, mappings, ids.last().cloned()),
        None,
    )
    .await
    .expect("record_page");

    let keys: Vec<IdKey> = ids
        .iter()
        .map(|id| (SObject::ACCOUNT, id.clone()))
        .collect();
    let map = jobs.resolve_ids(&tenant, &keys).await.expect("resolve_ids");
    for (key, crm) in keys.iter().zip(&written) {
        assert_eq!(
            map.get(key).map(|m| &m.crm_id),
            Some(crm),
            "resolve_ids must return the id the sink gave {}",
            key.1
        );
    }

    let records = ids
        .iter()
        .map(|id| {
            let mut r = fixture::account_named(id, "updated");
            r.existing = map
                .get(&(SObject::ACCOUNT, id.clone()))
                .map(|m| m.crm_id.clone());
            r
        })
        .collect();
    let batch = WriteBatch::new(SObject::ACCOUNT, WriteMode::Update, records);
    let out = sink
        .write_batch(&tenant, &batch)
        .await
        .expect("write_batch Update");
    for (r, crm) in out.into_iter().zip(&written) {
        let o = r.expect("account updated");
        assert_eq!(&o.crm_id, crm, "an update with `existing` keeps the id");
        assert_eq!(
            o.action,
            WriteAction::Updated,
            "an Update-mode write of a record written before is Updated"
        );
    }
}

/// A page written to the sink whose `record_page` was lost (a crash) is
/// written again on resume: the sink answers with the same ids and creates
/// nothing, and recording it then makes the id map complete.
pub async fn rewrite_after_lost_page_is_idempotent(sink: &dyn CrmSink, jobs: &dyn JobStore) {
    let tenant = unique_tenant();
    let job = jobs
        .create_job(&fixture::new_job(
            &tenant,
            &[SObject::CONTACT],
            fixture::at(0),
        ))
        .await
        .expect("create_job");
    let ids = fixture::sf_ids(&SObject::CONTACT, 3);
    let batch = WriteBatch::new(
        SObject::CONTACT,
        WriteMode::SkipExisting,
        ids.iter().map(|id| fixture::contact(id, None)).collect(),
    );
    let first: Vec<CrmId> = sink
        .write_batch(&tenant, &batch)
        .await
        .expect("write_batch")
        .into_iter()
        .map(|r| r.expect("contact written").crm_id)
        .collect();
    // The crash: nothing recorded. The id map does not know the records.
    let keys: Vec<IdKey> = ids
        .iter()
        .map(|id| (SObject::CONTACT, id.clone()))
        .collect();
    assert!(
        jobs.resolve_ids(&tenant, &keys)
            .await
            .expect("resolve_ids")
            .is_empty(),
        "records written but never recorded are not in the id map"
    );

    let again = sink
        .write_batch(&tenant, &batch)
        .await
        .expect("write_batch again");
    let mut mappings = Vec::new();
    for ((r, crm), id) in again.into_iter().zip(&first).zip(&ids) {
        let o = r.expect("contact written again");
        assert_eq!(
            &o.crm_id, crm,
            "rewriting Contact {id} after a lost page must return the same id"
        );
        assert_eq!(
            o.action,
            WriteAction::AlreadyPresent,
            "a rewrite after a lost page is AlreadyPresent in SkipExisting mode"
        );
        mappings.push((id.clone(), o.crm_id));
    }
    jobs.record_page(
        &tenant,
        &job.id,
        &SObject::CONTACT,
        &fixture::page(3, mappings, ids.last().cloned()),
        None,
    )
    .await
    .expect("record_page");
    let map = jobs.resolve_ids(&tenant, &keys).await.expect("resolve_ids");
    assert_eq!(
        map.len(),
        3,
        "recording the rewritten page maps all three records"
    );
    let progress = jobs.job(&tenant, &job.id).await.expect("job");
    assert_eq!(
        progress
            .object(&SObject::CONTACT)
            .expect("Contact")
            .imported,
        3,
        "recording the rewritten page counts its records"
    );
}
