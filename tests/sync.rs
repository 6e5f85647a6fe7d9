//! The migration lifecycle over real loopback HTTP against the fake org:
//! an import, then edits, inserts and deletes (with their cascades) in the
//! org, then a sync. After each step the CRM must equal the org record by
//! record: every live record with every mapped field and every lookup (by
//! Salesforce id), and every record deleted in the org deleted in the CRM.
//! The sync must read and write only what changed.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::support::compare::{Canonical, canonical};
use async_trait::async_trait;
use salesforce_import::http::RestSource;
use salesforce_import::sink::{CrmSink, Deletion, Relink, WriteBatch, WriteOutcome};
use salesforce_import::{
    ImportRequest, Importer, InMemoryJobStore, InMemorySink, InMemoryTokenVault, Job, JobStatus,
    JobStore, RecordError, Result, SObject, Severity, SfId, TenantId, TokenVault,
};
use salesforce_import_fake::{FakeOrg, FakeSalesforce};
use serde_json::{Map, Value, json};

const PAGE: usize = 50;

/// The in-memory CRM, counting what reaches it.
#[derive(Debug, Default)]
struct CountingSink {
    inner: InMemorySink,
    written: AtomicU64,
    deleted: AtomicU64,
    /// Answer deletions with the trait's default (not supported).
    no_deletions: bool,
    /// Fail the write of the Contact page with this number (from 1), as a
    /// database that goes away would.
    fail_contact_page: AtomicU64,
    contact_pages: AtomicU64,
}

impl CountingSink {
    fn take(&self) -> (u64, u64) {
        (
            self.written.swap(0, Ordering::SeqCst),
            self.deleted.swap(0, Ordering::SeqCst),
        )
    }
}

#[async_trait]
impl CrmSink for CountingSink {
    async fn write_batch(
        &self,
        tenant: &TenantId,
        batch: &WriteBatch,
    ) -> Result<Vec<Result<WriteOutcome, RecordError>>> {
        if batch.object == SObject::CONTACT {
            let n = self.contact_pages.fetch_add(1, Ordering::SeqCst) + 1;
            if n == self.fail_contact_page.load(Ordering::SeqCst) {
                return Err(salesforce_import::Error::store(
                    "crm sink",
                    "writing contacts",
                    std::io::Error::other("the CRM database went away"),
                )
                .permanent());
            }
        }
        self.written
            .fetch_add(batch.records.len() as u64, Ordering::SeqCst);
        self.inner.write_batch(tenant, batch).await
    }

    async fn relink(
        &self,
        tenant: &TenantId,
        object: &SObject,
        links: &[Relink],
    ) -> Result<Vec<Result<(), RecordError>>> {
        self.inner.relink(tenant, object, links).await
    }

    async fn delete_batch(
        &self,
        tenant: &TenantId,
        object: &SObject,
        records: &[Deletion],
    ) -> Result<Vec<Result<(), RecordError>>> {
        if self.no_deletions {
            return Err(salesforce_import::Error::Unsupported {
                port: "crm sink",
                operation: "deleting records",
            });
        }
        self.deleted
            .fetch_add(records.len() as u64, Ordering::SeqCst);
        self.inner.delete_batch(tenant, object, records).await
    }
}

struct World {
    fake: FakeSalesforce,
    vault: Arc<InMemoryTokenVault>,
    source: Arc<RestSource>,
    sink: Arc<CountingSink>,
    jobs: Arc<InMemoryJobStore>,
    importer: Importer,
    tenant: TenantId,
}

async fn world(org: FakeOrg, sink: CountingSink) -> World {
    let fake = FakeSalesforce::builder()
        .org(org)
        .min_batch_size(1)
        .start()
        .await
        .unwrap();
    let vault = Arc::new(InMemoryTokenVault::new());
    let tenant = TenantId::new("acme");
    vault
        .put(&tenant, &fake.connection("ada@example.com"))
        .await
        .unwrap();
    let oauth = Arc::new(
        support::fake::oauth_builder(&fake)
            .build(vault.clone())
            .unwrap(),
    );
    let source = Arc::new(
        RestSource::builder(oauth)
            .api_version(fake.api_version())
            .max_attempts(3)
            .backoff(Duration::from_millis(1), Duration::from_millis(10))
            .build()
            .unwrap(),
    );
    let sink = Arc::new(sink);
    let jobs = Arc::new(InMemoryJobStore::new());
    let importer = Importer::builder(source.clone(), sink.clone(), jobs.clone())
        .vault(vault.clone())
        .page_size(PAGE)
        .build()
        .unwrap();
    World {
        fake,
        vault,
        source,
        sink,
        jobs,
        importer,
        tenant,
    }
}

fn request() -> ImportRequest {
    ImportRequest::new("ada@example.com", SObject::SELECTABLE)
}

fn assert_finished(job: &Job) {
    assert!(
        matches!(
            job.status,
            JobStatus::Completed | JobStatus::CompletedWithErrors
        ),
        "{:?}: {:?}",
        job.status,
        job.message
    );
}

/// The org as it is now, imported from scratch into a fresh CRM.
async fn reference(w: &World) -> Canonical {
    let tenant = TenantId::new("reference");
    w.vault
        .put(&tenant, &w.fake.connection("ref@example.com"))
        .await
        .unwrap();
    let sink = Arc::new(InMemorySink::new());
    let importer = Importer::builder(
        w.source.clone(),
        sink.clone(),
        Arc::new(InMemoryJobStore::new()),
    )
    .vault(w.vault.clone())
    .page_size(500)
    .build()
    .unwrap();
    let job = importer.run(&tenant, request()).await.unwrap();
    assert_finished(&job);
    canonical(&sink, &tenant)
}

/// Every live record of the org is in the CRM, equal field by field and
/// lookup by lookup; every other record the CRM has was deleted in the
/// org and is deleted in the CRM.
async fn assert_equals_org(w: &World) {
    let want = reference(w).await;
    let got = canonical(&w.sink.inner, &w.tenant);
    let mut deleted_in_org = std::collections::BTreeSet::new();
    for object in SObject::STANDARD {
        for r in w.fake.org().all_records(&object) {
            if r.is_deleted() {
                deleted_in_org.insert((object.clone(), r.id().unwrap()));
            }
        }
    }
    for (key, (record, deleted)) in &want {
        assert!(!deleted);
        let Some((have, have_deleted)) = got.get(key) else {
            panic!("{} {} is in the org but not in the CRM", key.0, key.1);
        };
        assert!(
            !have_deleted,
            "{} {} is live in the org but deleted in the CRM",
            key.0, key.1
        );
        assert_eq!(have, record, "{} {}", key.0, key.1);
    }
    for (key, (_, deleted)) in &got {
        if want.contains_key(key) {
            continue;
        }
        assert!(
            deleted_in_org.contains(key),
            "{} {} is in the CRM but not in the org",
            key.0,
            key.1
        );
        assert!(
            *deleted,
            "{} {} was deleted in the org but is live in the CRM",
            key.0, key.1
        );
    }
}

fn fields(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn ids(w: &World, object: &SObject, n: usize) -> Vec<SfId> {
    w.fake
        .org()
        .records(object, n)
        .iter()
        .map(|r| r.id().unwrap())
        .collect()
}

#[tokio::test]
async fn a_sync_after_edits_inserts_and_deletes_equals_the_org() {
    let w = world(
        FakeOrg::generated_materialized(11, 300),
        CountingSink::default(),
    )
    .await;
    let preview = w.importer.preview(&w.tenant, &request(), 10).await.unwrap();
    let previewed = w.fake.records_served();
    let first = w.importer.run(&w.tenant, request()).await.unwrap();
    assert_finished(&first);
    support::preview::assert_preview_matches(&preview, &first);
    let served_full = w.fake.records_served() - previewed;
    assert_equals_org(&w).await;

    let org = w.fake.org();
    org.advance(Duration::from_secs(3_600));
    let accounts = ids(&w, &SObject::ACCOUNT, 300);
    let contacts = ids(&w, &SObject::CONTACT, 300);
    let opportunities = ids(&w, &SObject::OPPORTUNITY, 150);
    for (i, id) in accounts.iter().enumerate().filter(|(i, _)| i % 29 == 3) {
        org.update(
            &SObject::ACCOUNT,
            id,
            fields(&[("Name", json!(format!("Renamed {i}")))]),
        )
        .unwrap();
    }
    for id in contacts.iter().skip(5).step_by(37) {
        org.update(
            &SObject::CONTACT,
            id,
            fields(&[("LastName", json!("Edited"))]),
        )
        .unwrap();
    }
    org.update(
        &SObject::OPPORTUNITY,
        &opportunities[4],
        fields(&[
            ("StageName", json!("Closed Won")),
            ("Amount", json!(1234.5)),
        ]),
    )
    .unwrap();
    // New accounts, the first a child of the second: its parent comes
    // after it in (SystemModstamp, Id) order, for the second pass.
    let child = org
        .insert(&SObject::ACCOUNT, fields(&[("Name", json!("New child"))]))
        .unwrap();
    let parent = org
        .insert(&SObject::ACCOUNT, fields(&[("Name", json!("New parent"))]))
        .unwrap();
    org.update(
        &SObject::ACCOUNT,
        &child,
        fields(&[("ParentId", json!(parent.as_str()))]),
    )
    .unwrap();
    for n in 0..3 {
        org.insert(
            &SObject::CONTACT,
            fields(&[
                ("LastName", json!(format!("Newcomer {n}"))),
                ("AccountId", json!(parent.as_str())),
            ]),
        )
        .unwrap();
    }
    // Deletes, with Salesforce's cascades (contacts, opportunities, orders,
    // quotes and their lines) and cleared lookups elsewhere.
    let gone = org.delete(&SObject::ACCOUNT, &accounts[20]).unwrap();
    assert!(gone.len() > 1, "an account delete cascades: {gone:?}");
    org.delete(&SObject::CONTACT, &contacts[40]).unwrap();
    org.delete(&SObject::ACCOUNT, &accounts[77]).unwrap();
    // 120 edits stamped with one instant: they span page boundaries.
    org.advance(Duration::from_secs(60));
    let live_contacts = ids(&w, &SObject::CONTACT, 300);
    for id in live_contacts.iter().skip(100).take(120) {
        org.update(
            &SObject::CONTACT,
            id,
            fields(&[("Title", json!("Same instant"))]),
        )
        .unwrap();
    }

    w.sink.take();
    // A dry run first: it writes nothing and foretells the sync exactly.
    let preview = w
        .importer
        .preview(&w.tenant, &request().sync(true), 10)
        .await
        .unwrap();
    assert_eq!(w.sink.take(), (0, 0), "a preview writes nothing");
    let before = w.fake.records_served();
    let sync = w
        .importer
        .run(&w.tenant, request().sync(true))
        .await
        .unwrap();
    assert_finished(&sync);
    assert!(sync.sync);
    support::preview::assert_preview_matches(&preview, &sync);
    assert!(sync.deleted() > 1, "deletions applied: {:?}", sync.objects);
    let served = w.fake.records_served() - before;
    assert_equals_org(&w).await;
    let (written, deleted) = w.sink.take();
    // Only new and changed records reach the sink (and those it rejects).
    let changed = sync.imported() + sync.updated();
    assert!(
        (changed..=changed + sync.errors()).contains(&written),
        "{written} records written for {changed} changed"
    );
    assert_eq!(deleted, sync.deleted());
    assert!(
        served * 5 < served_full,
        "a sync reads what changed: {served} records against {served_full} for the import"
    );
    // The queries were keyset-paged by (SystemModstamp, Id) through queryAll.
    let queries = w.fake.queries();
    assert!(
        queries
            .iter()
            .any(|q| q.contains("ORDER BY SystemModstamp, Id")),
        "{queries:?}"
    );
}

#[tokio::test]
async fn a_sync_after_one_percent_changed_reads_and_writes_only_those() {
    let w = world(
        FakeOrg::generated_materialized(5, 400),
        CountingSink::default(),
    )
    .await;
    let first = w.importer.run(&w.tenant, request()).await.unwrap();
    assert_finished(&first);
    let total: usize = SObject::STANDARD
        .iter()
        .map(|o| w.fake.org().all_records(o).len())
        .sum();
    let changed = total / 100;
    let org = w.fake.org();
    org.advance(Duration::from_secs(3_600));
    for id in ids(&w, &SObject::CONTACT, changed) {
        org.update(&SObject::CONTACT, &id, fields(&[("Title", json!("Moved"))]))
            .unwrap();
    }

    // What a sync must read: for each object, the records stamped at or
    // after its watermark less the 10-minute look-back (the records
    // changed, and the few the look-back reads again).
    let mut expected_reads = 0;
    for object in SObject::STANDARD {
        let Some(watermark) = w.jobs.watermark(&w.tenant, &object).await.unwrap() else {
            continue;
        };
        let since = watermark - chrono::Duration::minutes(10);
        expected_reads += org
            .all_records(&object)
            .iter()
            .filter(|r| r.modstamp().is_some_and(|m| m >= since))
            .count() as u64;
    }

    w.sink.take();
    let before = w.fake.records_served();
    let sync = w
        .importer
        .run(&w.tenant, request().sync(true))
        .await
        .unwrap();
    assert_eq!(sync.status, JobStatus::Completed, "{:?}", sync.message);
    let served = w.fake.records_served() - before;
    let (written, deleted) = w.sink.take();
    assert_eq!(
        written, changed as u64,
        "the sink got the changed records only"
    );
    assert_eq!(deleted, 0);
    assert_eq!(
        (sync.imported(), sync.updated(), sync.errors()),
        (0, changed as u64, 0)
    );
    assert_eq!(
        served, expected_reads,
        "the sync read only the changes (and the look-back)"
    );
    assert!(
        served < 2 * changed as u64 + 20,
        "{served} records read for {changed} changes out of {total}"
    );
    assert_equals_org(&w).await;
}

#[tokio::test]
async fn a_sync_stopped_mid_way_resumes_after_its_last_stamp_and_id() {
    let w = world(
        FakeOrg::generated_materialized(3, 200),
        CountingSink::default(),
    )
    .await;
    assert_finished(&w.importer.run(&w.tenant, request()).await.unwrap());
    let org = w.fake.org();
    org.advance(Duration::from_secs(3_600));
    // 150 contacts changed at one instant: three pages and a bit, all with
    // the same SystemModstamp, so the resume must continue by Id within it.
    for id in ids(&w, &SObject::CONTACT, 150) {
        org.update(
            &SObject::CONTACT,
            &id,
            fields(&[("Department", json!("Ops"))]),
        )
        .unwrap();
    }
    org.delete(&SObject::ACCOUNT, &ids(&w, &SObject::ACCOUNT, 9)[8])
        .unwrap();

    // Stop it in the middle of Contact: the CRM fails the second page.
    w.sink.contact_pages.store(0, Ordering::SeqCst);
    w.sink.fail_contact_page.store(2, Ordering::SeqCst);
    let stopped = w
        .importer
        .run(&w.tenant, request().sync(true))
        .await
        .unwrap();
    assert_eq!(stopped.status, JobStatus::Failed, "{:?}", stopped.objects);
    let contact = stopped.object(&SObject::CONTACT).unwrap();
    assert!(
        contact.checkpoint_modstamp.is_some() && contact.processed() < 150,
        "stopped inside Contact, at a (SystemModstamp, Id) position: {contact:?}"
    );

    let resumed = w
        .importer
        .resume(&w.tenant, &stopped.id)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_finished(&resumed);
    let contact = resumed.object(&SObject::CONTACT).unwrap();
    assert!(
        contact.updated >= 150 - 2,
        "every changed contact updated once (a few cascaded deletes aside): {contact:?}"
    );
    assert!(
        w.fake
            .queries()
            .iter()
            .any(|q| q.contains("SystemModstamp = ") && q.contains("AND Id > '")),
        "the resume continued after (SystemModstamp, Id)"
    );
    assert_equals_org(&w).await;
}

#[tokio::test]
async fn a_sink_without_deletions_keeps_deleted_records_and_says_so_once() {
    let sink = CountingSink {
        no_deletions: true,
        ..CountingSink::default()
    };
    let w = world(FakeOrg::generated_materialized(9, 100), sink).await;
    assert_finished(&w.importer.run(&w.tenant, request()).await.unwrap());
    let org = w.fake.org();
    org.advance(Duration::from_secs(3_600));
    let contacts = ids(&w, &SObject::CONTACT, 60);
    for id in contacts.iter().step_by(5) {
        org.delete(&SObject::CONTACT, id).unwrap();
    }
    let sync = w
        .importer
        .run(&w.tenant, request().sync(true))
        .await
        .unwrap();
    assert_eq!(sync.status, JobStatus::Completed, "{:?}", sync.message);
    assert_eq!(sync.deleted(), 0);
    let log = w.jobs.error_log(&w.tenant, &sync.id, 0, 100).await.unwrap();
    let said: Vec<_> = log
        .iter()
        .filter(|e| {
            e.severity == Severity::Warning && e.message.contains("does not support deletions")
        })
        .collect();
    assert_eq!(said.len(), 1, "one warning for Contact: {log:?}");
    assert_eq!(said[0].object, SObject::CONTACT);
    for id in contacts.iter().step_by(5) {
        let (crm, _) = w.sink.inner.get(&w.tenant, &SObject::CONTACT, id).unwrap();
        assert!(w.sink.inner.deleted_at(&w.tenant, &crm).is_none(), "kept");
    }
}
