//! Conformance checks for [`JobStore`].

use std::collections::HashMap;

use futures::future::join_all;

use super::{fixture, unique_tenant};
use crate::error::Error;
use crate::id::{CrmId, JobId, TenantId};
use crate::jobs::{
    IdKey, IdMapping, Job, JobStatus, JobStore, ObjectProgress, ObjectState, PageRecord,
};
use crate::object::SObject;

const OBJECTS: [SObject; 2] = [SObject::ACCOUNT, SObject::CONTACT];

async fn create(store: &dyn JobStore, tenant: &TenantId, secs: i64) -> Job {
    store
        .create_job(&fixture::new_job(tenant, &OBJECTS, fixture::at(secs)))
        .await
        .unwrap_or_else(|e| panic!("create_job for {tenant} failed: {e}"))
}

async fn get(store: &dyn JobStore, tenant: &TenantId, job: &JobId) -> Job {
    store
        .job(tenant, job)
        .await
        .unwrap_or_else(|e| panic!("job({tenant}, {job}) failed: {e}"))
}

async fn set(store: &dyn JobStore, tenant: &TenantId, job: &JobId, status: JobStatus, secs: i64) {
    store
        .set_status(tenant, job, status, fixture::at(secs), None, None)
        .await
        .unwrap_or_else(|e| panic!("set_status({job}, {status}) failed: {e}"));
}

fn assert_not_found<T: std::fmt::Debug>(
    res: crate::error::Result<T>,
    tenant: &TenantId,
    job: &JobId,
    call: &str,
) {
    match res {
        Err(Error::JobNotFound { tenant: t, job: j }) => {
            assert_eq!(
                &t, tenant,
                "{call}: JobNotFound must name the tenant asked for"
            );
            assert_eq!(&j, job, "{call}: JobNotFound must name the job asked for");
        }
        other => panic!("{call} on another tenant's job must be Error::JobNotFound, got {other:?}"),
    }
}

/// A new job is `Pending`, with every object pending in the order given,
/// and can be read back.
pub async fn create_job_is_pending(store: &dyn JobStore) {
    let tenant = unique_tenant();
    let new = crate::jobs::NewJob::new(
        tenant.clone(),
        "ada@example.com",
        vec![SObject::PRODUCT2, SObject::ACCOUNT, SObject::ORDER],
        crate::crm::WriteMode::Update,
        fixture::at(10),
    );
    let job = store.create_job(&new).await.expect("create_job");
    assert_eq!(job.status, JobStatus::Pending, "a new job is Pending");
    assert_eq!(
        job.tenant, tenant,
        "the job belongs to the tenant it was created for"
    );
    assert_eq!(
        job.started_by, "ada@example.com",
        "the job keeps who started it"
    );
    assert_eq!(
        job.mode,
        crate::crm::WriteMode::Update,
        "the job keeps its write mode"
    );
    assert_eq!(
        job.created_at,
        fixture::at(10),
        "the job keeps its created_at"
    );
    assert_eq!(job.started_at, None, "a new job has not started");
    assert_eq!(job.completed_at, None, "a new job has not completed");
    assert_eq!(job.message, None, "a new job has no message");
    let want: Vec<ObjectProgress> = [SObject::PRODUCT2, SObject::ACCOUNT, SObject::ORDER]
        .into_iter()
        .map(ObjectProgress::pending)
        .collect();
    assert_eq!(
        job.objects, want,
        "every object pending, in the order given"
    );
    assert_eq!(
        get(store, &tenant, &job.id).await,
        job,
        "job() must return the job as created"
    );
}

/// A second create while a job is Pending or InProgress fails with
/// [`Error::ImportAlreadyRunning`] naming the running job.
pub async fn one_running_job_per_tenant(store: &dyn JobStore) {
    let tenant = unique_tenant();
    let first = create(store, &tenant, 1).await;
    for status in [JobStatus::Pending, JobStatus::InProgress] {
        if status != JobStatus::Pending {
            set(store, &tenant, &first.id, status, 2).await;
        }
        match store
            .create_job(&fixture::new_job(&tenant, &OBJECTS, fixture::at(3)))
            .await
        {
            Err(Error::ImportAlreadyRunning { tenant: t, job }) => {
                assert_eq!(t, tenant, "ImportAlreadyRunning must name the tenant");
                assert_eq!(
                    job, first.id,
                    "ImportAlreadyRunning must name the running job"
                );
            }
            other => panic!(
                "create_job while a job is {status} must be ImportAlreadyRunning, got {other:?}"
            ),
        }
    }
    let history = store.history(&tenant, 10).await.expect("history");
    assert_eq!(
        history.len(),
        1,
        "a refused create must not leave a job behind"
    );
}

/// After the running job is Completed, CompletedWithErrors, Failed or
/// Cancelled, a new job can be created.
pub async fn create_allowed_after_final_status(store: &dyn JobStore) {
    let tenant = unique_tenant();
    let finals = [
        JobStatus::Completed,
        JobStatus::CompletedWithErrors,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];
    let mut secs = 0;
    for status in finals {
        secs += 10;
        let job = create(store, &tenant, secs).await;
        set(store, &tenant, &job.id, JobStatus::InProgress, secs + 1).await;
        set(store, &tenant, &job.id, status, secs + 2).await;
    }
    let last = create(store, &tenant, secs + 10).await;
    assert_eq!(
        last.status,
        JobStatus::Pending,
        "a job created after the others finished is Pending"
    );
    assert_eq!(
        store.history(&tenant, 100).await.expect("history").len(),
        5,
        "five jobs were created, one after the other"
    );
}

/// A running job of one tenant does not stop another tenant.
pub async fn other_tenant_unaffected(store: &dyn JobStore) {
    let (a, b) = (unique_tenant(), unique_tenant());
    let job_a = create(store, &a, 1).await;
    let job_b = create(store, &b, 2).await;
    assert_ne!(job_a.id, job_b.id, "job ids must be distinct");
    assert_eq!(job_b.tenant, b, "tenant B's job belongs to tenant B");
}

/// Sixteen concurrent creates for one tenant: exactly one succeeds, every
/// other is ImportAlreadyRunning naming it.
pub async fn concurrent_create_single_winner(store: &dyn JobStore) {
    let tenant = unique_tenant();
    let new = fixture::new_job(&tenant, &OBJECTS, fixture::at(1));
    let results = join_all((0..16).map(|_| store.create_job(&new))).await;
    let winners: Vec<&Job> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one of 16 concurrent creates must succeed, got {}",
        winners.len()
    );
    let winner = winners[0].id.clone();
    for r in &results {
        match r {
            Ok(_) => {}
            Err(Error::ImportAlreadyRunning { job, .. }) => {
                assert_eq!(job, &winner, "losers must name the winning job")
            }
            Err(e) => panic!("a losing concurrent create must be ImportAlreadyRunning, got {e:?}"),
        }
    }
    let history = store.history(&tenant, 100).await.expect("history");
    assert_eq!(history.len(), 1, "only the winner may be stored");
}

/// `set_status` sets `started_at` on the first InProgress only,
/// `completed_at` on a final status, and the message.
pub async fn set_status_timestamps(store: &dyn JobStore) {
    let tenant = unique_tenant();
    let job = create(store, &tenant, 0).await;
    set(store, &tenant, &job.id, JobStatus::InProgress, 5).await;
    let j = get(store, &tenant, &job.id).await;
    assert_eq!(
        j.status,
        JobStatus::InProgress,
        "set_status(InProgress) sets the status"
    );
    assert_eq!(
        j.started_at,
        Some(fixture::at(5)),
        "started_at is set on the first InProgress"
    );
    assert_eq!(j.completed_at, None, "a running job has no completed_at");

    store
        .set_status(
            &tenant,
            &job.id,
            JobStatus::Failed,
            fixture::at(9),
            Some("boom".to_owned()),
            None,
        )
        .await
        .expect("set_status Failed");
    let j = get(store, &tenant, &job.id).await;
    assert_eq!(
        j.status,
        JobStatus::Failed,
        "set_status(Failed) sets the status"
    );
    assert_eq!(
        j.completed_at,
        Some(fixture::at(9)),
        "completed_at is set on a final status"
    );
    assert_eq!(j.message.as_deref(), Some("boom"), "the message is stored");

    // Resumed: started_at stays the first one.
    set(store, &tenant, &job.id, JobStatus::InProgress, 20).await;
    let j = get(store, &tenant, &job.id).await;
    assert_eq!(
        j.started_at,
        Some(fixture::at(5)),
        "started_at is only set on the FIRST InProgress"
    );
    assert_eq!(
        j.status,
        JobStatus::InProgress,
        "a resumed job is InProgress again"
    );

    set(store, &tenant, &job.id, JobStatus::Completed, 30).await;
    let j = get(store, &tenant, &job.id).await;
    assert_eq!(
        j.completed_at,
        Some(fixture::at(30)),
        "completed_at is the time of the last final status"
    );
    assert_eq!(
        j.status,
        JobStatus::Completed,
        "set_status(Completed) sets the status"
    );
    assert_eq!(j.message, None, "set_status replaces the message");
}

/// `set_object_state` changes one object's state and nothing else.
pub async fn set_object_state(store: &dyn JobStore) {
    let tenant = unique_tenant();
    let job = create(store, &tenant, 0).await;
    store
        .set_object_state(
            &tenant,
            &job.id,
            &SObject::CONTACT,
            ObjectState::Importing,
            None,
        )
        .await
        .expect("set_object_state");
    let j = get(store, &tenant, &job.id).await;
    assert_eq!(
        j.object(&SObject::CONTACT).expect("Contact").state,
        ObjectState::Importing,
        "set_object_state sets the object's state"
    );
    assert_eq!(
        j.object(&SObject::ACCOUNT).expect("Account").state,
        ObjectState::Pending,
        "other objects unchanged"
    );
    for state in [ObjectState::Done, ObjectState::Unavailable] {
        store
            .set_object_state(&tenant, &job.id, &SObject::ACCOUNT, state, None)
            .await
            .expect("set_object_state");
        assert_eq!(
            get(store, &tenant, &job.id)
                .await
                .object(&SObject::ACCOUNT)
                .unwrap()
                .state,
            state,
            "set_object_state sets the object's state"
        );
    }
    let res = store
        .set_object_state(&tenant, &job.id, &SObject::QUOTE, ObjectState::Done, None)
        .await;
    assert!(
        res.is_err(),
        "set_object_state for an object the job does not have must fail"
    );
}

/// `record_page` accumulates counts, sets the total and checkpoint,
/// appends log entries and stores mappings.
pub async fn record_page_accumulates(store: &dyn JobStore) {
    let tenant = unique_tenant();
    let job = create(store, &tenant, 0).await;
    let obj = SObject::ACCOUNT;
    let ids = fixture::sf_ids(&obj, 6);
    let page1 = PageRecord {
        total: Some(6),
        imported: 2,
        updated: 1,
        skipped: 0,
        deleted: 0,
        errors: 1,
        warnings: 1,
        log: vec![fixture::log_error(&obj, &ids[2], "Name", "first")],
        mappings: vec![
            (
                ids[0].clone(),
                IdMapping::new(CrmId::new("c-1"), Some(fixture::at(10))),
            ),
            (ids[1].clone(), IdMapping::new(CrmId::new("c-2"), None)),
        ],
        checkpoint: Some(ids[2].clone()),
        checkpoint_modstamp: Some(fixture::at(20)),
        resume_cursor: Some("bulk:750x:MTAw:".to_owned()),
        watermark: Some(fixture::at(30)),
    };
    store
        .record_page(&tenant, &job.id, &obj, &page1, None)
        .await
        .expect("record_page 1");
    let after_first = get(store, &tenant, &job.id).await;
    assert_eq!(
        after_first.object(&obj).unwrap().resume_cursor.as_deref(),
        Some("bulk:750x:MTAw:"),
        "the page's durable cursor is kept with its checkpoint"
    );
    let page2 = PageRecord {
        total: None,
        imported: 1,
        updated: 2,
        skipped: 1,
        deleted: 1,
        errors: 1,
        warnings: 0,
        log: vec![fixture::log_error(&obj, &ids[5], "Phone", "second")],
        mappings: vec![(
            ids[3].clone(),
            IdMapping::new(CrmId::new("c-4"), Some(fixture::at(40))).deleted(),
        )],
        checkpoint: Some(ids[5].clone()),
        checkpoint_modstamp: Some(fixture::at(50)),
        resume_cursor: None,
        watermark: None,
    };
    store
        .record_page(&tenant, &job.id, &obj, &page2, None)
        .await
        .expect("record_page 2");

    let j = get(store, &tenant, &job.id).await;
    let p = j.object(&obj).expect("Account progress");
    assert_eq!(
        p.total,
        Some(6),
        "a page without a total keeps the known total"
    );
    assert_eq!(
        (
            p.imported, p.updated, p.skipped, p.deleted, p.errors, p.warnings
        ),
        (3, 3, 1, 1, 2, 1),
        "counts accumulate over pages"
    );
    assert_eq!(
        p.checkpoint_modstamp,
        Some(fixture::at(50)),
        "the checkpoint's stamp is the last page's"
    );
    assert_eq!(
        p.resume_cursor, None,
        "the resume cursor goes with the checkpoint: the last page had none"
    );
    assert_eq!(
        p.watermark,
        Some(fixture::at(30)),
        "a page without a watermark keeps the last one"
    );
    assert_eq!(
        p.checkpoint.as_ref(),
        Some(&ids[5]),
        "the checkpoint is the last page's"
    );
    let other = j.object(&SObject::CONTACT).expect("Contact progress");
    assert_eq!(
        other,
        &ObjectProgress::pending(SObject::CONTACT),
        "other objects unchanged"
    );

    let log = store
        .error_log(&tenant, &job.id, 0, 100)
        .await
        .expect("error_log");
    assert_eq!(
        log,
        vec![page1.log[0].clone(), page2.log[0].clone()],
        "log entries appended in order"
    );

    let keys: Vec<IdKey> = ids.iter().map(|id| (obj.clone(), id.clone())).collect();
    let map = store
        .resolve_ids(&tenant, &keys)
        .await
        .expect("resolve_ids");
    let want: HashMap<IdKey, IdMapping> = [&page1.mappings[..], &page2.mappings[..]]
        .concat()
        .into_iter()
        .map(|(sf, m)| ((obj.clone(), sf), m))
        .collect();
    assert_eq!(
        map, want,
        "record_page must store the page's mappings, with their stamps and deleted marks"
    );

    // A page without a checkpoint keeps the last one.
    store
        .record_page(
            &tenant,
            &job.id,
            &obj,
            &fixture::page(0, vec![], None),
            None,
        )
        .await
        .expect("empty page");
    let j = get(store, &tenant, &job.id).await;
    assert_eq!(
        j.object(&obj).unwrap().checkpoint.as_ref(),
        Some(&ids[5]),
        "a page without a checkpoint keeps the previous checkpoint"
    );
}

/// `record_page` for an object the job does not have fails and changes
/// nothing: counts, log and mappings are as before.
pub async fn record_page_unknown_object_changes_nothing(store: &dyn JobStore) {
    let tenant = unique_tenant();
    let job = create(store, &tenant, 0).await;
    let before = get(store, &tenant, &job.id).await;
    let obj = SObject::QUOTE;
    let id = fixture::sf_id(&obj, 1);
    let page = PageRecord {
        total: Some(1),
        imported: 1,
        log: vec![fixture::log_error(&obj, &id, "Name", "x")],
        mappings: vec![(id.clone(), fixture::mapping("c-1"))],
        checkpoint: Some(id.clone()),
        ..PageRecord::default()
    };
    let res = store.record_page(&tenant, &job.id, &obj, &page, None).await;
    assert!(
        res.is_err(),
        "record_page for an object the job does not import must fail"
    );
    assert_eq!(
        get(store, &tenant, &job.id).await,
        before,
        "a failed record_page must not change the job"
    );
    let log = store
        .error_log(&tenant, &job.id, 0, 100)
        .await
        .expect("error_log");
    assert!(
        log.is_empty(),
        "a failed record_page must not append to the log: {log:?}"
    );
    let map = store
        .resolve_ids(&tenant, &[(obj, id)])
        .await
        .expect("resolve_ids");
    assert!(
        map.is_empty(),
        "a failed record_page must not store mappings: {map:?}"
    );
}

/// `resolve_ids` returns only known keys; it is scoped to the tenant and
/// to the object, and handles no keys.
pub async fn resolve_ids_scoping(store: &dyn JobStore) {
    let (a, b) = (unique_tenant(), unique_tenant());
    let job = create(store, &a, 0).await;
    let id = fixture::sf_id(&SObject::ACCOUNT, 1);
    let unknown = fixture::sf_id(&SObject::ACCOUNT, 2);
    store
        .record_page(
            &a,
            &job.id,
            &SObject::ACCOUNT,
            &fixture::page(1, vec![(id.clone(), CrmId::new("c-1"))], None),
            None,
        )
        .await
        .expect("record_page");

    // May answer `true` when unsure, never `false` when there are some.
    assert!(
        store
            .has_mappings(&a, &SObject::ACCOUNT)
            .await
            .expect("has_mappings"),
        "has_mappings must see the recorded mapping"
    );

    let known = (SObject::ACCOUNT, id.clone());
    let map = store
        .resolve_ids(&a, &[known.clone(), (SObject::ACCOUNT, unknown)])
        .await
        .expect("resolve_ids");
    assert_eq!(map.len(), 1, "unknown keys must be absent: {map:?}");
    assert_eq!(
        map.get(&known).map(|m| &m.crm_id),
        Some(&CrmId::new("c-1")),
        "resolve_ids returns the recorded CRM id"
    );

    let other_object = store
        .resolve_ids(&a, &[(SObject::CONTACT, id.clone())])
        .await
        .expect("resolve_ids");
    assert!(
        other_object.is_empty(),
        "the id map is scoped to the object: {other_object:?}"
    );
    let other_tenant = store
        .resolve_ids(&b, std::slice::from_ref(&known))
        .await
        .expect("resolve_ids");
    assert!(
        other_tenant.is_empty(),
        "the id map is scoped to the tenant: {other_tenant:?}"
    );
    let none = store
        .resolve_ids(&a, &[])
        .await
        .expect("resolve_ids of no keys");
    assert!(none.is_empty(), "resolve_ids of no keys is empty: {none:?}");

    // A later job (a re-run) records the same mapping again: that must
    // succeed (no unique-key failure) and leave one mapping.
    set(store, &a, &job.id, JobStatus::Completed, 1).await;
    let rerun = create(store, &a, 2).await;
    store
        .record_page(
            &a,
            &rerun.id,
            &SObject::ACCOUNT,
            &fixture::page(1, vec![(id.clone(), CrmId::new("c-1"))], Some(id.clone())),
            None,
        )
        .await
        .expect("record_page of a mapping recorded before (a re-run) must succeed");
    let map = store
        .resolve_ids(&a, std::slice::from_ref(&known))
        .await
        .expect("resolve_ids");
    assert_eq!(map.len(), 1, "one mapping per (tenant, object, sf_id)");
    assert_eq!(
        map.get(&known).map(|m| &m.crm_id),
        Some(&CrmId::new("c-1")),
        "the re-recorded mapping resolves to its CRM id"
    );
}

/// `resolve_ids` answers 5 000 keys in one call.
pub async fn resolve_ids_many_keys(store: &dyn JobStore) {
    let tenant = unique_tenant();
    let job = create(store, &tenant, 0).await;
    let ids = fixture::sf_ids(&SObject::CONTACT, 5_000);
    // Map every other one, in pages of 500.
    for chunk in ids.chunks(500) {
        let mappings = chunk
            .iter()
            .step_by(2)
            .map(|id| (id.clone(), CrmId::new(format!("crm-{id}"))))
            .collect::<Vec<_>>();
        let page = fixture::page(mappings.len() as u64, mappings, chunk.last().cloned());
        store
            .record_page(&tenant, &job.id, &SObject::CONTACT, &page, None)
            .await
            .expect("record_page");
    }
    let keys: Vec<IdKey> = ids
        .iter()
        .map(|id| (SObject::CONTACT, id.clone()))
        .collect();
    let map = store
        .resolve_ids(&tenant, &keys)
        .await
        .expect("resolve_ids of 5000 keys");
    assert_eq!(map.len(), 2_500, "half of the 5000 keys are mapped");
    for (i, key) in keys.iter().enumerate() {
        let want = (i % 2 == 0).then(|| CrmId::new(format!("crm-{}", key.1)));
        assert_eq!(
            map.get(key).map(|m| &m.crm_id),
            want.as_ref(),
            "key {i} ({})",
            key.1
        );
    }
}

/// `error_log` pages with offset and limit, oldest first.
pub async fn error_log_paging(store: &dyn JobStore) {
    let tenant = unique_tenant();
    let job = create(store, &tenant, 0).await;
    let obj = SObject::ACCOUNT;
    let ids = fixture::sf_ids(&obj, 10);
    let entries: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| fixture::log_error(&obj, id, "Name", &format!("entry {i}")))
        .collect();
    for chunk in entries.chunks(4) {
        let page = PageRecord {
            errors: chunk.len() as u64,
            log: chunk.to_vec(),
            ..PageRecord::default()
        };
        store
            .record_page(&tenant, &job.id, &obj, &page, None)
            .await
            .expect("record_page");
    }
    let log = |offset, limit| store.error_log(&tenant, &job.id, offset, limit);
    assert_eq!(
        log(0, 100).await.expect("error_log"),
        entries,
        "the whole log, oldest first"
    );
    assert_eq!(
        log(0, 3).await.expect("error_log"),
        entries[..3].to_vec(),
        "limit"
    );
    assert_eq!(
        log(3, 4).await.expect("error_log"),
        entries[3..7].to_vec(),
        "offset + limit"
    );
    assert_eq!(
        log(8, 100).await.expect("error_log"),
        entries[8..].to_vec(),
        "offset near the end"
    );
    assert!(
        log(10, 5).await.expect("error_log").is_empty(),
        "offset at the end"
    );
    assert!(
        log(50, 5).await.expect("error_log").is_empty(),
        "offset past the end"
    );
    assert!(log(0, 0).await.expect("error_log").is_empty(), "limit 0");
}

/// `log_page` from `0` and then each page's `next` reads every line once,
/// in order, whatever the page size; lines recorded after the last page
/// come from its marker; another tenant's job is [`Error::JobNotFound`].
pub async fn log_page_reads_every_line_once(store: &dyn JobStore) {
    let tenant = unique_tenant();
    let job = create(store, &tenant, 0).await;
    let obj = SObject::CONTACT;
    let ids = fixture::sf_ids(&obj, 12);
    let entries: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| fixture::log_error(&obj, id, "LastName", &format!("line {i}")))
        .collect();
    let record = |lines: &[crate::jobs::LogEntry]| {
        let page = PageRecord {
            errors: lines.len() as u64,
            log: lines.to_vec(),
            ..PageRecord::default()
        };
        let (tenant, id) = (tenant.clone(), job.id.clone());
        async move {
            store
                .record_page(&tenant, &id, &SObject::CONTACT, &page, None)
                .await
                .expect("record_page")
        }
    };
    for chunk in entries[..10].chunks(3) {
        record(chunk).await;
    }
    // Reads pages of `limit` from `after` until no `next`: the lines and
    // the marker of the last page read.
    let read_all = |after: u64, limit: usize| {
        let (tenant, id) = (tenant.clone(), job.id.clone());
        async move {
            let (mut lines, mut after, mut pages) = (Vec::new(), after, 0);
            loop {
                let page = store
                    .log_page(&tenant, &id, after, limit)
                    .await
                    .expect("log_page");
                pages += 1;
                assert!(
                    page.lines.len() <= limit,
                    "log_page({after}, {limit}) gave {} lines",
                    page.lines.len()
                );
                lines.extend(page.lines);
                match page.next {
                    Some(next) => {
                        assert!(pages <= 100, "log_page never ends (next stays {next})");
                        after = next;
                    }
                    None => return (lines, after, pages),
                }
            }
        }
    };
    for limit in [1, 3, 4, 9, 10, 11, 1000] {
        let (lines, _, pages) = read_all(0, limit).await;
        assert_eq!(
            lines,
            entries[..10].to_vec(),
            "paging by {limit} must give every line once, oldest first"
        );
        assert_eq!(
            pages,
            10_usize.div_ceil(limit),
            "paging 10 lines by {limit}: no empty last page when the store knows it is the end"
        );
    }
    // The marker of a full page, then lines recorded after it.
    let first = store
        .log_page(&tenant, &job.id, 0, 4)
        .await
        .expect("log_page");
    let marker = first.next.expect("10 lines by 4: a next page");
    record(&entries[10..]).await;
    let (rest, _, _) = read_all(marker, 4).await;
    assert_eq!(
        rest,
        entries[4..].to_vec(),
        "lines recorded later come after every marker given before"
    );
    let (quiet_tenant, quiet_job) = create_other(store).await;
    let empty = store
        .log_page(&quiet_tenant, &quiet_job, 0, 10)
        .await
        .expect("log_page of a job without a log");
    assert!(
        empty.lines.is_empty() && empty.next.is_none(),
        "a job without log lines has one empty page: {empty:?}"
    );
    let other = unique_tenant();
    assert_not_found(
        store.log_page(&other, &job.id, 0, 10).await,
        &other,
        &job.id,
        "log_page",
    );
}

/// A new tenant with one job: `(tenant, job id)`.
async fn create_other(store: &dyn JobStore) -> (TenantId, JobId) {
    let tenant = unique_tenant();
    let job = create(store, &tenant, 0).await;
    (tenant, job.id)
}

/// History is newest first, at most `limit`, and only the tenant's own.
pub async fn history_newest_first(store: &dyn JobStore) {
    let (a, b) = (unique_tenant(), unique_tenant());
    let mut ids = Vec::new();
    for i in 0..5 {
        let job = create(store, &a, i * 100).await;
        set(store, &a, &job.id, JobStatus::InProgress, i * 100 + 1).await;
        set(store, &a, &job.id, JobStatus::Completed, i * 100 + 2).await;
        ids.push(job.id);
    }
    let other = create(store, &b, 50).await;

    let history = store.history(&a, 10).await.expect("history");
    let got: Vec<JobId> = history.iter().map(|j| j.id.clone()).collect();
    let want: Vec<JobId> = ids.iter().rev().cloned().collect();
    assert_eq!(got, want, "history must be newest first");
    assert!(
        history.iter().all(|j| j.tenant == a),
        "history must hold only the tenant's jobs"
    );
    assert!(
        history.iter().all(|j| j.status == JobStatus::Completed),
        "history returns jobs with their current status"
    );

    let limited = store.history(&a, 2).await.expect("history");
    let got: Vec<JobId> = limited.iter().map(|j| j.id.clone()).collect();
    assert_eq!(got, want[..2].to_vec(), "history limit keeps the newest");
    assert!(
        store.history(&a, 0).await.expect("history").is_empty(),
        "limit 0"
    );

    let hb = store.history(&b, 10).await.expect("history");
    assert_eq!(hb.len(), 1, "tenant B sees only its own job");
    assert_eq!(hb[0].id, other.id, "tenant B's history holds its own job");
    assert!(
        store
            .history(&unique_tenant(), 10)
            .await
            .expect("history")
            .is_empty(),
        "a tenant without jobs has an empty history"
    );
}

/// Another tenant's job is [`Error::JobNotFound`] for every call, and those
/// calls change nothing; so is an id that was never issued.
pub async fn other_tenants_job_not_found(store: &dyn JobStore) {
    let (a, b) = (unique_tenant(), unique_tenant());
    let job = create(store, &a, 0).await;
    let id = &job.id;
    assert_not_found(store.job(&b, id).await, &b, id, "job()");
    assert_not_found(
        store
            .set_status(&b, id, JobStatus::Cancelled, fixture::at(1), None, None)
            .await,
        &b,
        id,
        "set_status",
    );
    assert_not_found(
        store
            .set_object_state(&b, id, &SObject::ACCOUNT, ObjectState::Done, None)
            .await,
        &b,
        id,
        "set_object_state",
    );
    let sf = fixture::sf_id(&SObject::ACCOUNT, 1);
    let page = PageRecord {
        imported: 1,
        log: vec![fixture::log_error(&SObject::ACCOUNT, &sf, "Name", "x")],
        mappings: vec![(sf.clone(), fixture::mapping("c-1"))],
        ..PageRecord::default()
    };
    assert_not_found(
        store
            .record_page(&b, id, &SObject::ACCOUNT, &page, None)
            .await,
        &b,
        id,
        "record_page",
    );
    assert_not_found(store.error_log(&b, id, 0, 10).await, &b, id, "error_log");

    assert_eq!(
        get(store, &a, id).await,
        job,
        "calls under another tenant must not change the job"
    );
    let log = store.error_log(&a, id, 0, 10).await.expect("error_log");
    assert!(
        log.is_empty(),
        "record_page under another tenant must not append to the log: {log:?}"
    );
    let keys = [(SObject::ACCOUNT, sf)];
    for t in [&a, &b] {
        let map = store.resolve_ids(t, &keys).await.expect("resolve_ids");
        assert!(
            map.is_empty(),
            "record_page under another tenant must not store mappings (seen by {t}): {map:?}"
        );
    }

    let never = JobId::new("no-such-job-4f1c");
    assert_not_found(
        store.job(&a, &never).await,
        &a,
        &never,
        "job() of an unknown id",
    );
}

// --- leases ----------------------------------------------------------------

/// A job created leased to `owner` until `at(expires)`.
async fn create_leased(store: &dyn JobStore, tenant: &TenantId, owner: &str, expires: i64) -> Job {
    let new =
        fixture::new_job(tenant, &OBJECTS, fixture::at(0)).leased_to(owner, fixture::at(expires));
    let job = store
        .create_job(&new)
        .await
        .unwrap_or_else(|e| panic!("create_job with a lease failed: {e}"));
    let lease = job
        .lease
        .as_ref()
        .expect("a job created with a lease carries it");
    assert_eq!(lease.owner, owner, "the job's lease is its creator's");
    assert_eq!(lease.token, 1, "a job's first lease has token 1");
    job
}

fn assert_lease_lost<T: std::fmt::Debug>(res: crate::error::Result<T>, call: &str) {
    assert!(
        matches!(res, Err(Error::LeaseLost { .. })),
        "{call} with a lease another owner took over must be Error::LeaseLost, got {res:?}"
    );
}

/// While its lease is held and unexpired, a job cannot be taken; once it
/// lapsed, the next owner gets it with a greater token, and the old
/// owner's renewal is refused.
pub async fn lease_has_one_holder(store: &dyn JobStore) {
    let tenant = unique_tenant();
    let job = create_leased(store, &tenant, "worker-a", 30).await;
    let held = job.lease.clone().unwrap();
    let taken = store
        .acquire_lease(
            &tenant,
            &job.id,
            "worker-b",
            fixture::at(10),
            fixture::at(40),
        )
        .await
        .expect("acquire_lease");
    assert_eq!(
        taken, None,
        "an unexpired lease of another owner cannot be taken"
    );
    assert!(
        !get(store, &tenant, &job.id)
            .await
            .is_stranded(fixture::at(10)),
        "a job with a live lease is not stranded"
    );
    let renewed = store
        .renew_lease(&tenant, &job.id, &held, fixture::at(60))
        .await
        .expect("the holder renews its lease");
    assert_eq!(renewed.token, held.token, "a renewal keeps the token");
    assert_eq!(
        renewed.expires_at,
        fixture::at(60),
        "a renewal moves the end"
    );
    assert_eq!(
        store
            .acquire_lease(
                &tenant,
                &job.id,
                "worker-b",
                fixture::at(50),
                fixture::at(80)
            )
            .await
            .expect("acquire_lease"),
        None,
        "the renewed lease holds until its new end"
    );
    assert!(
        get(store, &tenant, &job.id)
            .await
            .is_stranded(fixture::at(61))
    );
    let b = store
        .acquire_lease(
            &tenant,
            &job.id,
            "worker-b",
            fixture::at(61),
            fixture::at(91),
        )
        .await
        .expect("acquire_lease")
        .expect("a lapsed lease can be taken over");
    assert_eq!(b.owner, "worker-b");
    assert!(b.token > held.token, "a takeover gets a greater token");
    assert_eq!(
        get(store, &tenant, &job.id).await.lease.as_ref(),
        Some(&b),
        "the job shows its new lease"
    );
    assert_lease_lost(
        store
            .renew_lease(&tenant, &job.id, &renewed, fixture::at(120))
            .await,
        "renew_lease",
    );
}

/// Of several owners racing for a lapsed lease, exactly one gets it.
pub async fn expired_lease_taken_over_once(store: &dyn JobStore) {
    let tenant = unique_tenant();
    let job = create_leased(store, &tenant, "worker-dead", 5).await;
    let owners: Vec<String> = (0..8).map(|i| format!("worker-{i}")).collect();
    let attempts = owners.iter().map(|owner| {
        store.acquire_lease(&tenant, &job.id, owner, fixture::at(10), fixture::at(40))
    });
    let won: Vec<_> = join_all(attempts)
        .await
        .into_iter()
        .filter_map(|r| r.expect("acquire_lease"))
        .collect();
    assert_eq!(
        won.len(),
        1,
        "exactly one of 8 racing owners takes the lease, got {won:?}"
    );
    assert_eq!(
        get(store, &tenant, &job.id).await.lease.as_ref(),
        Some(&won[0]),
        "the winner's lease is the job's"
    );
}

/// An owner that lost its lease (another took the job over) cannot record
/// a page, set an object's state or the job's status: each is
/// `Error::LeaseLost` and changes nothing. The new owner's writes go through.
pub async fn stale_owner_cannot_write(store: &dyn JobStore) {
    let tenant = unique_tenant();
    let job = create_leased(store, &tenant, "worker-a", 30).await;
    let stale = job.lease.clone().unwrap();
    let fresh = store
        .acquire_lease(
            &tenant,
            &job.id,
            "worker-b",
            fixture::at(31),
            fixture::at(61),
        )
        .await
        .expect("acquire_lease")
        .expect("the lapsed lease is taken over");
    let sf = fixture::sf_id(&SObject::ACCOUNT, 1);
    let page = fixture::page(1, vec![(sf.clone(), CrmId::new("crm-1"))], Some(sf.clone()));
    assert_lease_lost(
        store
            .record_page(&tenant, &job.id, &SObject::ACCOUNT, &page, Some(&stale))
            .await,
        "record_page",
    );
    assert_lease_lost(
        store
            .set_object_state(
                &tenant,
                &job.id,
                &SObject::ACCOUNT,
                ObjectState::Done,
                Some(&stale),
            )
            .await,
        "set_object_state",
    );
    assert_lease_lost(
        store
            .set_status(
                &tenant,
                &job.id,
                JobStatus::Completed,
                fixture::at(40),
                None,
                Some(&stale),
            )
            .await,
        "set_status",
    );
    let after = get(store, &tenant, &job.id).await;
    assert_eq!(
        after.status,
        JobStatus::Pending,
        "the stale owner changed the status"
    );
    let account = after.object(&SObject::ACCOUNT).unwrap();
    assert_eq!(
        (account.imported, account.state, account.checkpoint.clone()),
        (0, ObjectState::Pending, None),
        "the stale owner changed the object's progress"
    );
    let known = store
        .resolve_ids(&tenant, &[(SObject::ACCOUNT, sf.clone())])
        .await
        .expect("resolve_ids");
    assert!(
        known.is_empty(),
        "the stale owner's page recorded id mappings"
    );

    store
        .record_page(&tenant, &job.id, &SObject::ACCOUNT, &page, Some(&fresh))
        .await
        .expect("the new owner records its page");
    store
        .set_status(
            &tenant,
            &job.id,
            JobStatus::InProgress,
            fixture::at(41),
            None,
            Some(&fresh),
        )
        .await
        .expect("the new owner sets the status");
    assert_eq!(
        get(store, &tenant, &job.id)
            .await
            .object(&SObject::ACCOUNT)
            .unwrap()
            .imported,
        1
    );
}

/// The holder ending the run (finished, failed, cancelled) releases the
/// lease: a failed job can be taken again (with a greater token), a
/// completed one cannot (`Error::JobNotResumable`). An unfenced status
/// write (an administrator's) leaves the lease to its holder.
pub async fn ending_the_run_releases_the_lease(store: &dyn JobStore) {
    let tenant = unique_tenant();
    let job = create_leased(store, &tenant, "worker-a", 30).await;
    let a = job.lease.clone().unwrap();
    store
        .set_status(
            &tenant,
            &job.id,
            JobStatus::Failed,
            fixture::at(5),
            Some("limit".into()),
            Some(&a),
        )
        .await
        .expect("the holder fails the job");
    assert_eq!(
        get(store, &tenant, &job.id).await.lease,
        None,
        "failing the job released its lease"
    );
    let b = store
        .acquire_lease(
            &tenant,
            &job.id,
            "worker-b",
            fixture::at(6),
            fixture::at(36),
        )
        .await
        .expect("acquire_lease")
        .expect("a failed job's lease is free at once");
    assert!(b.token > a.token, "tokens grow across a release");
    store
        .set_status(
            &tenant,
            &job.id,
            JobStatus::Completed,
            fixture::at(7),
            None,
            Some(&b),
        )
        .await
        .expect("the holder completes the job");
    assert_eq!(get(store, &tenant, &job.id).await.lease, None);
    let again = store
        .acquire_lease(
            &tenant,
            &job.id,
            "worker-c",
            fixture::at(8),
            fixture::at(38),
        )
        .await;
    assert!(
        matches!(again, Err(Error::JobNotResumable { .. })),
        "a completed job's lease cannot be taken, got {again:?}"
    );

    let other = unique_tenant();
    let job = create_leased(store, &other, "worker-a", 30).await;
    set(store, &other, &job.id, JobStatus::Cancelled, 5).await;
    assert_eq!(
        get(store, &other, &job.id).await.lease,
        job.lease,
        "an unfenced status write leaves the lease to the process still running the job"
    );
}

/// `stranded_jobs` lists a running job whose lease lapsed (and one never
/// leased), not one whose lease is live, nor a finished one.
pub async fn stranded_jobs_lists_lapsed_leases(store: &dyn JobStore) {
    let now = fixture::at(100);
    let (lapsed, live, unleased, done) = (
        unique_tenant(),
        unique_tenant(),
        unique_tenant(),
        unique_tenant(),
    );
    let lapsed_job = create_leased(store, &lapsed, "worker-dead", 50).await;
    let live_job = create_leased(store, &live, "worker-alive", 200).await;
    let unleased_job = create(store, &unleased, 0).await;
    let done_job = create_leased(store, &done, "worker-a", 50).await;
    let lease = done_job.lease.clone().unwrap();
    store
        .set_status(
            &done,
            &done_job.id,
            JobStatus::Completed,
            fixture::at(40),
            None,
            Some(&lease),
        )
        .await
        .expect("set_status");
    // Jobs of other tests (other tenants) may be listed too: look at ours.
    let listed = store
        .stranded_jobs(now, 100_000)
        .await
        .expect("stranded_jobs");
    let has = |t: &TenantId, j: &JobId| listed.iter().any(|x| &x.tenant == t && &x.id == j);
    assert!(
        !has(&live, &live_job.id),
        "a job with a live lease is not stranded"
    );
    assert!(!has(&done, &done_job.id), "a finished job is not stranded");
    assert!(
        listed.iter().all(|j| j.is_stranded(now)),
        "stranded_jobs listed a job that is not stranded"
    );
    if listed.is_empty() {
        // A store that isolates tenants per session (row-level security)
        // lists none across tenants, as the contract allows; the jobs are
        // still stranded, tenant by tenant, which is how they are recovered.
        for (t, j) in [(&lapsed, &lapsed_job.id), (&unleased, &unleased_job.id)] {
            assert!(
                get(store, t, j).await.is_stranded(now),
                "{j} is stranded in its tenant"
            );
        }
    } else {
        assert!(
            has(&lapsed, &lapsed_job.id),
            "a running job whose lease lapsed is stranded"
        );
        assert!(
            has(&unleased, &unleased_job.id),
            "a running job never leased is stranded"
        );
    }
}

/// An administrator cancelling a running job (an unfenced write) is not
/// undone by the process still holding the lease: its write of another
/// status is `Error::LeaseLost`; writing the same final status is allowed
/// (it winds the job down) and releases the lease.
pub async fn holder_cannot_undo_a_cancel(store: &dyn JobStore) {
    let tenant = unique_tenant();
    let job = create_leased(store, &tenant, "worker-a", 30).await;
    let lease = job.lease.clone().unwrap();
    set(store, &tenant, &job.id, JobStatus::Cancelled, 5).await;
    for status in [JobStatus::InProgress, JobStatus::Completed] {
        assert_lease_lost(
            store
                .set_status(&tenant, &job.id, status, fixture::at(6), None, Some(&lease))
                .await,
            "set_status over an administrator's cancel",
        );
    }
    assert_eq!(
        get(store, &tenant, &job.id).await.status,
        JobStatus::Cancelled
    );
    store
        .set_status(
            &tenant,
            &job.id,
            JobStatus::Cancelled,
            fixture::at(7),
            None,
            Some(&lease),
        )
        .await
        .expect("the holder winds the cancelled job down");
    assert_eq!(
        get(store, &tenant, &job.id).await.lease,
        None,
        "and releases its lease"
    );
}

/// [`JobStore::watermark`] is the greatest watermark of the object over
/// the tenant's jobs in which the object is done; objects not done, other
/// objects and other tenants do not count.
pub async fn watermark_is_the_latest_done(store: &dyn JobStore) {
    let tenant = unique_tenant();
    let obj = SObject::ACCOUNT;
    let wm = |secs| PageRecord {
        watermark: Some(fixture::at(secs)),
        ..PageRecord::default()
    };
    assert_eq!(
        store.watermark(&tenant, &obj).await.expect("watermark"),
        None,
        "no job: no watermark"
    );
    let first = create(store, &tenant, 0).await;
    store
        .record_page(&tenant, &first.id, &obj, &wm(100), None)
        .await
        .expect("record_page");
    assert_eq!(
        store.watermark(&tenant, &obj).await.expect("watermark"),
        None,
        "an object not done has no watermark yet"
    );
    store
        .set_object_state(&tenant, &first.id, &obj, ObjectState::Done, None)
        .await
        .expect("set_object_state");
    set(store, &tenant, &first.id, JobStatus::Completed, 1).await;
    assert_eq!(
        store.watermark(&tenant, &obj).await.expect("watermark"),
        Some(fixture::at(100))
    );
    assert_eq!(
        store
            .watermark(&tenant, &SObject::CONTACT)
            .await
            .expect("watermark"),
        None,
        "another object has its own"
    );
    assert_eq!(
        store
            .watermark(&unique_tenant(), &obj)
            .await
            .expect("watermark"),
        None,
        "another tenant has its own"
    );

    // A later job that failed on the object does not move it; one that
    // finished it with an earlier watermark does not move it back.
    let second = create(store, &tenant, 2).await;
    store
        .record_page(&tenant, &second.id, &obj, &wm(300), None)
        .await
        .expect("record_page");
    store
        .set_object_state(&tenant, &second.id, &obj, ObjectState::Failed, None)
        .await
        .expect("set_object_state");
    set(store, &tenant, &second.id, JobStatus::Failed, 3).await;
    let third = create(store, &tenant, 4).await;
    store
        .record_page(&tenant, &third.id, &obj, &wm(50), None)
        .await
        .expect("record_page");
    store
        .set_object_state(&tenant, &third.id, &obj, ObjectState::Done, None)
        .await
        .expect("set_object_state");
    assert_eq!(
        store.watermark(&tenant, &obj).await.expect("watermark"),
        Some(fixture::at(100)),
        "the greatest watermark of a done object"
    );
}
