//! End to end: the bundled sample org imported into the in-memory CRM, with
//! exact counts, the exact error log, chosen field values, and re-runs that
//! create nothing new.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::support::sample_manifest::{COUNTS, DUPLICATE_ACCOUNT_NAMES, FAILURES, WARNINGS};
use rust_decimal::Decimal;
use salesforce_import::crm::{CrmRecord, OpportunityStage, OrderStatus, QuoteStatus};
use salesforce_import::{
    FileSource, ImportRequest, Importer, InMemoryJobStore, InMemorySink, Job, JobStatus, JobStore,
    SObject, Severity, SfId, TenantId, WriteMode,
};

const SELECTED: [SObject; 6] = SObject::SELECTABLE;

struct World {
    sink: Arc<InMemorySink>,
    jobs: Arc<InMemoryJobStore>,
    importer: Importer,
}

fn world(page_size: usize) -> World {
    let sink = Arc::new(InMemorySink::new());
    let jobs = Arc::new(InMemoryJobStore::new());
    let importer = Importer::builder(
        Arc::new(FileSource::sample_org()),
        sink.clone(),
        jobs.clone(),
    )
    .page_size(page_size)
    .build()
    .unwrap();
    World {
        sink,
        jobs,
        importer,
    }
}

fn id(s: &str) -> SfId {
    SfId::parse(s).unwrap()
}

fn get(w: &World, t: &TenantId, object: SObject, sf_id: &str) -> CrmRecord {
    w.sink
        .get(t, &object, &id(sf_id))
        .unwrap_or_else(|| panic!("{object} {sf_id} was not imported"))
        .1
}

async fn log_keys(w: &World, job: &Job, severity: Severity) -> BTreeSet<(String, String, String)> {
    w.jobs
        .error_log(&job.tenant, &job.id, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.severity == severity)
        .map(|e| {
            let sf_id = e.sf_id.map(|i| i.to_string()).unwrap_or_default();
            (e.object.to_string(), sf_id, e.field)
        })
        .collect()
}

fn expected(rows: &[(&str, &str, &str, &str)]) -> BTreeSet<(String, String, String)> {
    rows.iter()
        .map(|(o, i, f, _)| (o.to_string(), i.to_string(), f.to_string()))
        .collect()
}

#[tokio::test]
async fn the_whole_sample_org_imports_with_the_expected_counts_and_errors() {
    // A small page size, so every object spans several pages.
    let w = world(7);
    let t = TenantId::new("acme");
    let job = w
        .importer
        .run(&t, ImportRequest::new("ada@example.com", SELECTED))
        .await
        .unwrap();
    assert_eq!(
        job.status,
        JobStatus::CompletedWithErrors,
        "{:?}",
        job.message
    );
    assert_eq!(job.objects.len(), 9);
    for (object, in_org, imported, failed) in COUNTS {
        let p = job.object(&SObject::new(*object)).unwrap();
        assert_eq!(
            (p.total, p.imported, p.errors, p.skipped),
            (Some(*in_org as u64), *imported as u64, *failed as u64, 0),
            "{object}"
        );
    }
    assert_eq!(
        log_keys(&w, &job, Severity::Error).await,
        expected(FAILURES)
    );
    assert_eq!(
        log_keys(&w, &job, Severity::Warning).await,
        expected(WARNINGS)
    );

    // Records in the CRM: price book entries write onto products.
    for (object, _, imported, _) in COUNTS {
        assert_eq!(
            w.sink.count(&t, &SObject::new(*object)),
            *imported,
            "{object}"
        );
    }
    assert_eq!(w.sink.records(&t, &SObject::PRICEBOOK_ENTRY).len(), 0);
}

#[tokio::test]
async fn field_values_survive_the_trip() {
    let w = world(50);
    let t = TenantId::new("fields");
    w.importer
        .run(&t, ImportRequest::new("ada@example.com", SELECTED))
        .await
        .unwrap();

    // Non-ASCII, a country spelled in German, money as a JSON number.
    let CrmRecord::Account(muller) = get(&w, &t, SObject::ACCOUNT, "0015g00000000aQAAQ") else {
        panic!()
    };
    assert_eq!(muller.name, "Müller GmbH");
    assert_eq!(muller.address.line.as_deref(), Some("Friedrichstraße 12"));
    assert_eq!(muller.address.country.as_deref(), Some("DE"));
    assert_eq!(muller.currency.as_deref(), Some("EUR"));
    assert_eq!(muller.number_of_employees, Some(85));

    // A parent imported after its child: linked by the second pass.
    let CrmRecord::Account(branch) = get(&w, &t, SObject::ACCOUNT, "0015g00000000fnAAA") else {
        panic!()
    };
    let parent = w
        .sink
        .get(&t, &SObject::ACCOUNT, &id("001x0000002xLCVAA2"))
        .unwrap()
        .0;
    assert_eq!(branch.parent, Some(parent));
    assert_eq!(branch.address.country.as_deref(), Some("US"));

    // The unknown country is dropped, the rest of the record kept.
    let CrmRecord::Account(atlantis) = get(&w, &t, SObject::ACCOUNT, "0015g00000000dPAAQ") else {
        panic!()
    };
    assert_eq!(
        (atlantis.address.country, atlantis.address.city.as_deref()),
        (None, Some("Poseidonis"))
    );

    // Duplicate names are two accounts.
    for (name, ids) in DUPLICATE_ACCOUNT_NAMES {
        let crm: BTreeSet<_> = ids
            .iter()
            .map(|i| w.sink.get(&t, &SObject::ACCOUNT, &id(i)).unwrap().0)
            .collect();
        assert_eq!(crm.len(), ids.len(), "{name}");
    }

    // Numeric strings into exact decimals; the stage table.
    let CrmRecord::Opportunity(opp) = get(&w, &t, SObject::OPPORTUNITY, "006x0000001YtCrAAK")
    else {
        panic!()
    };
    assert_eq!(opp.amount, Some(Decimal::from(500_000)));
    assert_eq!(opp.probability, Some(Decimal::ONE_HUNDRED));
    assert_eq!(opp.stage, OpportunityStage::ClosedWon);
    assert_eq!(
        opp.closed_on.map(|d| d.to_string()).as_deref(),
        Some("2005-11-09")
    );
    let account = w
        .sink
        .get(&t, &SObject::ACCOUNT, &id("001x0000002xLD0AAM"))
        .unwrap()
        .0;
    assert_eq!(opp.account, Some(account));

    // The unknown stage took the default.
    let CrmRecord::Opportunity(won_big) = get(&w, &t, SObject::OPPORTUNITY, "0065g00000000VeAAI")
    else {
        panic!()
    };
    assert_eq!(won_big.stage, OpportunityStage::Prospecting);

    // A product's price is its standard price book entry's.
    let CrmRecord::Product(product) = get(&w, &t, SObject::PRODUCT2, "01t5g00000000GjAAI") else {
        panic!()
    };
    assert_eq!(product.price, Some(Decimal::from(35_000)));

    // An order line without Product2Id found its product through the price book entry.
    let CrmRecord::OrderLine(line) = get(&w, &t, SObject::ORDER_ITEM, "8025g00000000J7AAI") else {
        panic!()
    };
    assert!(line.product.is_some() && line.order.is_some(), "{line:?}");

    // Every imported order has its account; statuses come from the table.
    for (sf_id, _, record) in w.sink.records(&t, &SObject::ORDER) {
        let CrmRecord::Order(order) = record else {
            panic!()
        };
        assert!(order.account.is_some(), "order {sf_id} without account");
        assert!(matches!(
            order.status,
            OrderStatus::Draft
                | OrderStatus::Activated
                | OrderStatus::Completed
                | OrderStatus::Cancelled
        ));
    }
    let statuses: std::collections::HashSet<_> = w
        .sink
        .records(&t, &SObject::QUOTE)
        .into_iter()
        .map(|(_, _, r)| match r {
            CrmRecord::Quote(q) => q.status,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        statuses,
        [
            QuoteStatus::Draft,
            QuoteStatus::Sent,
            QuoteStatus::Accepted,
            QuoteStatus::Declined
        ]
        .into()
    );
}

#[tokio::test]
async fn a_rerun_creates_nothing_new() {
    let w = world(20);
    let t = TenantId::new("rerun");
    let first = w
        .importer
        .run(&t, ImportRequest::new("ada", SELECTED))
        .await
        .unwrap();
    let before: Vec<usize> = COUNTS
        .iter()
        .map(|(o, ..)| w.sink.count(&t, &SObject::new(*o)))
        .collect();
    let mappings = w.jobs.mapping_count(&t);

    let second = w
        .importer
        .run(&t, ImportRequest::new("ada", SELECTED))
        .await
        .unwrap();
    assert_ne!(second.id, first.id);
    assert_eq!(second.imported(), 0, "a re-run imports nothing");
    // The sample files carry no SystemModstamp: nothing tells an unchanged
    // record from a changed one, so each is written over the record it was
    // imported as (never a second one).
    assert_eq!(second.updated(), first.imported());
    assert_eq!(second.skipped(), 0);
    assert_eq!(
        second.errors(),
        first.errors(),
        "the same records fail again"
    );
    let after: Vec<usize> = COUNTS
        .iter()
        .map(|(o, ..)| w.sink.count(&t, &SObject::new(*o)))
        .collect();
    assert_eq!(before, after);
    assert_eq!(w.jobs.mapping_count(&t), mappings);

    // Update mode rewrites every record in place: still nothing new.
    let third = w
        .importer
        .run(
            &t,
            ImportRequest::new("ada", SELECTED).mode(WriteMode::Update),
        )
        .await
        .unwrap();
    assert_eq!(
        (third.imported(), third.updated(), third.skipped()),
        (0, first.imported(), 0)
    );
    let after: Vec<usize> = COUNTS
        .iter()
        .map(|(o, ..)| w.sink.count(&t, &SObject::new(*o)))
        .collect();
    assert_eq!(before, after);

    // History: newest first.
    let history = w.jobs.history(&t, 50).await.unwrap();
    let ids: Vec<_> = history.iter().map(|j| j.id.clone()).collect();
    assert_eq!(ids, [third.id, second.id, first.id]);
}

#[tokio::test]
async fn tenants_do_not_see_each_other() {
    let w = world(100);
    let (a, b) = (TenantId::new("a"), TenantId::new("b"));
    w.importer
        .run(&a, ImportRequest::new("ada", [SObject::ACCOUNT]))
        .await
        .unwrap();
    assert_eq!(w.sink.count(&b, &SObject::ACCOUNT), 0);
    let job_b = w
        .importer
        .run(&b, ImportRequest::new("bob", [SObject::ACCOUNT]))
        .await
        .unwrap();
    assert_eq!(
        job_b.skipped(),
        0,
        "tenant b's import is not deduplicated against tenant a's"
    );
    assert_eq!(
        w.sink.count(&b, &SObject::ACCOUNT),
        w.sink.count(&a, &SObject::ACCOUNT)
    );
}

#[tokio::test]
async fn only_selected_objects_are_imported() {
    let w = world(100);
    let t = TenantId::new("contacts-only");
    let job = w
        .importer
        .run(&t, ImportRequest::new("ada", [SObject::CONTACT]))
        .await
        .unwrap();
    assert_eq!(job.objects.len(), 1);
    assert_eq!(w.sink.count(&t, &SObject::ACCOUNT), 0);
    let contacts = w.sink.records(&t, &SObject::CONTACT);
    assert!(!contacts.is_empty());
    assert!(
        contacts
            .iter()
            .all(|(_, _, r)| matches!(r, CrmRecord::Contact(c) if c.account.is_none())),
        "accounts were not imported, so no contact can link to one"
    );
    // ...and each contact that named an account says so in the log.
    let warnings = w.jobs.error_log(&t, &job.id, 0, 10_000).await.unwrap();
    assert!(
        warnings
            .iter()
            .any(|e| e.field == "AccountId" && e.message.contains("not imported"))
    );
}
