//! `decide()`, the pure per-record decision, and the builder.

use super::*;
use crate::engine::ids::Known;

// ------------------------------------------------------- decide(): pure

/// An id map of live records written without a stamp.
fn stamped(ids: HashMap<IdKey, CrmId>) -> Known {
    ids.into_iter()
        .map(|(k, crm)| (k, IdMapping::new(crm, None)))
        .collect()
}

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000 + secs, 0).unwrap()
}

#[test]
fn decide_update_changed_compares_stamps() {
    let me = id("a02", 1);
    let key = (child_obj(), me.clone());
    let mut deferred = Vec::new();
    let decide_with =
        |stored: Option<DateTime<Utc>>, deleted: bool, now: Option<DateTime<Utc>>, mode| {
            let mut m = IdMapping::new(CrmId::new("c1"), stored);
            m.deleted = deleted;
            let known = Known::from_iter([(key.clone(), m)]);
            let mut deferred = Vec::new();
            decide(
                &child_obj(),
                mapped(&child_obj(), me.clone(), &[]),
                now,
                &known,
                mode,
                &mut deferred,
            )
        };
    use WriteMode::*;
    // Same stamp: unchanged, skipped.
    assert!(matches!(
        decide_with(Some(t(1)), false, Some(t(1)), UpdateChanged),
        Decision::Skip { stale: false }
    ));
    // Changed since: rewritten over the record it was imported as.
    let Decision::Write(w, _) = decide_with(Some(t(1)), false, Some(t(2)), UpdateChanged) else {
        panic!()
    };
    assert_eq!(w.existing, Some(CrmId::new("c1")));
    // No stamp on either side: cannot tell, so rewritten (never stale).
    assert!(matches!(
        decide_with(None, false, None, UpdateChanged),
        Decision::Write(..)
    ));
    assert!(matches!(
        decide_with(Some(t(1)), false, None, UpdateChanged),
        Decision::Write(..)
    ));
    // Deleted, now back (restored from the recycle bin): rewritten.
    assert!(matches!(
        decide_with(Some(t(1)), true, Some(t(1)), UpdateChanged),
        Decision::Write(..)
    ));
    // Update rewrites even the unchanged.
    assert!(matches!(
        decide_with(Some(t(1)), false, Some(t(1)), Update),
        Decision::Write(..)
    ));
    // Skip keeps, and says when what it keeps is stale.
    assert!(matches!(
        decide_with(Some(t(1)), false, Some(t(1)), SkipExisting),
        Decision::Skip { stale: false }
    ));
    assert!(matches!(
        decide_with(Some(t(1)), false, Some(t(2)), SkipExisting),
        Decision::Skip { stale: true }
    ));
    assert!(matches!(
        decide_with(None, false, Some(t(2)), SkipExisting),
        Decision::Skip { stale: false }
    ));
    // Never imported: written, whatever the mode.
    let d = decide(
        &child_obj(),
        mapped(&child_obj(), id("a02", 9), &[]),
        Some(t(1)),
        &Known::default(),
        UpdateChanged,
        &mut deferred,
    );
    let Decision::Write(w, _) = d else { panic!() };
    assert_eq!(w.existing, None);
}

fn mapped(object: &SObject, sf_id: SfId, lookups: &[(LookupSpec, SfId)]) -> Mapped {
    let mut fields = serde_json::Map::new();
    fields.insert("name".into(), "x".into());
    let record = SfRecord::new(object.clone())
        .with("Id", sf_id.as_str())
        .with("Name", "x");
    let mut m = TestMapper {
        object: object.clone(),
        lookups: vec![],
    }
    .map(&record, &Default::default())
    .unwrap();
    m.lookups = lookups
        .iter()
        .map(|(spec, target)| crate::mapping::LookupValue {
            spec: spec.clone(),
            sf_id: target.clone(),
        })
        .collect();
    m
}

#[test]
fn decide_skips_or_updates_what_was_imported_before() {
    let me = id("a02", 1);
    let known = stamped([((child_obj(), me.clone()), CrmId::new("c1"))].into());
    let mut deferred = Vec::new();
    let d = decide(
        &child_obj(),
        mapped(&child_obj(), me.clone(), &[]),
        None,
        &known,
        WriteMode::SkipExisting,
        &mut deferred,
    );
    assert!(matches!(d, Decision::Skip { stale: false }), "{d:?}");
    let d = decide(
        &child_obj(),
        mapped(&child_obj(), me, &[]),
        None,
        &known,
        WriteMode::Update,
        &mut deferred,
    );
    let Decision::Write(w, warnings) = d else {
        panic!("{d:?}")
    };
    assert_eq!(w.existing, Some(CrmId::new("c1")));
    assert!(warnings.is_empty());
}

#[test]
fn decide_resolves_required_and_optional_lookups() {
    let (p1, p2, missing) = (id("a01", 1), id("a01", 2), id("a01", 99));
    let known = stamped(
        [
            ((parent_obj(), p1.clone()), CrmId::new("p1")),
            ((parent_obj(), p2.clone()), CrmId::new("p2")),
        ]
        .into(),
    );
    let specs = test_mappers().get(&child_obj()).unwrap().lookups().to_vec();
    let (required, optional) = (specs[0].clone(), specs[1].clone());
    let mut deferred = Vec::new();

    // Both resolve.
    let m = mapped(
        &child_obj(),
        id("a02", 1),
        &[
            (required.clone(), p1.clone()),
            (optional.clone(), p2.clone()),
        ],
    );
    let Decision::Write(w, warnings) = decide(
        &child_obj(),
        m,
        None,
        &known,
        WriteMode::SkipExisting,
        &mut deferred,
    ) else {
        panic!()
    };
    assert_eq!(
        w.record.link(&Link::Custom("parent".into())),
        Some(&CrmId::new("p1"))
    );
    assert_eq!(
        w.record.link(&Link::Custom("other".into())),
        Some(&CrmId::new("p2"))
    );
    assert!(warnings.is_empty());

    // Optional unresolved: written, with a warning naming the field.
    let m = mapped(
        &child_obj(),
        id("a02", 2),
        &[
            (required.clone(), p1.clone()),
            (optional.clone(), missing.clone()),
        ],
    );
    let Decision::Write(w, warnings) = decide(
        &child_obj(),
        m,
        None,
        &known,
        WriteMode::SkipExisting,
        &mut deferred,
    ) else {
        panic!()
    };
    assert_eq!(w.record.link(&Link::Custom("other".into())), None);
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].field, "OtherId");

    // Required unresolved: a record error naming the field and the target.
    let m = mapped(
        &child_obj(),
        id("a02", 3),
        &[(required.clone(), missing.clone())],
    );
    let Decision::Fail(e) = decide(
        &child_obj(),
        m,
        None,
        &known,
        WriteMode::SkipExisting,
        &mut deferred,
    ) else {
        panic!()
    };
    assert_eq!(e.field, "ParentId");
    assert_eq!(
        e.problem,
        Problem::UnresolvedLookup {
            target: parent_obj(),
            sf_id: missing.clone()
        }
    );
    assert!(deferred.is_empty());
}

#[test]
fn decide_first_lookup_that_resolves_fills_a_shared_slot() {
    // OrderItem: Product2Id and PricebookEntryId both fill the product slot.
    let product = LookupSpec::optional("Product2Id", SObject::PRODUCT2, Link::Product);
    let entry = LookupSpec::optional("PricebookEntryId", SObject::PRICEBOOK_ENTRY, Link::Product);
    let (p, e) = (id("01t", 1), id("01u", 1));
    let known = stamped(
        [(
            (SObject::PRICEBOOK_ENTRY, e.clone()),
            CrmId::new("prod-via-entry"),
        )]
        .into(),
    );
    let mut m = mapped(
        &SObject::ORDER_ITEM,
        id("802", 1),
        &[(product, p), (entry, e)],
    );
    m.record = CrmRecord::OrderLine(Default::default());
    let mut deferred = Vec::new();
    let Decision::Write(w, warnings) = decide(
        &SObject::ORDER_ITEM,
        m,
        None,
        &known,
        WriteMode::SkipExisting,
        &mut deferred,
    ) else {
        panic!()
    };
    assert_eq!(
        w.record.link(&Link::Product),
        Some(&CrmId::new("prod-via-entry"))
    );
    assert!(
        warnings.is_empty(),
        "a filled slot is not a warning: {warnings:?}"
    );
}

#[test]
fn decide_defers_unresolved_self_references() {
    let spec = LookupSpec::optional("ParentId", SObject::ACCOUNT, Link::ParentAccount);
    let mut m = mapped(
        &SObject::ACCOUNT,
        id("001", 1),
        &[(spec.clone(), id("001", 2))],
    );
    m.record = CrmRecord::Account(Default::default());
    let mut deferred = Vec::new();
    let d = decide(
        &SObject::ACCOUNT,
        m,
        None,
        &Known::default(),
        WriteMode::SkipExisting,
        &mut deferred,
    );
    let Decision::Write(_, warnings) = d else {
        panic!()
    };
    assert!(warnings.is_empty());
    assert_eq!(deferred.len(), 1);
    // A record naming itself as its parent is neither deferred nor an error.
    let mut m = mapped(&SObject::ACCOUNT, id("001", 3), &[(spec, id("001", 3))]);
    m.record = CrmRecord::Account(Default::default());
    decide(
        &SObject::ACCOUNT,
        m,
        None,
        &Known::default(),
        WriteMode::SkipExisting,
        &mut deferred,
    );
    assert_eq!(deferred.len(), 1);
}

// ------------------------------------------------------------ the builder

#[test]
fn builder_validates() {
    let b = || {
        Importer::builder(
            Arc::new(VecSource::default()),
            Arc::new(InMemorySink::new()),
            Arc::new(InMemoryJobStore::new()),
        )
    };
    assert!(matches!(
        b().page_size(0).build(),
        Err(Error::Config { .. })
    ));
    assert!(matches!(
        b().page_size(10_001).build(),
        Err(Error::Config { .. })
    ));
    assert!(matches!(
        b().max_attempts(0).build(),
        Err(Error::Config { .. })
    ));
    assert!(b().build().is_ok());
}
