//! `decide()`, the pure per-record decision, and the builder.

use super::*;

// ------------------------------------------------------- decide(): pure

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
    let known: HashMap<IdKey, CrmId> = [((child_obj(), me.clone()), CrmId::new("c1"))].into();
    let mut deferred = 0;
    let d = decide(
        &child_obj(),
        mapped(&child_obj(), me.clone(), &[]),
        &known,
        WriteMode::SkipExisting,
        &mut deferred,
    );
    assert!(matches!(d, Decision::Skip), "{d:?}");
    let d = decide(
        &child_obj(),
        mapped(&child_obj(), me, &[]),
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
    let known: HashMap<IdKey, CrmId> = [
        ((parent_obj(), p1.clone()), CrmId::new("p1")),
        ((parent_obj(), p2.clone()), CrmId::new("p2")),
    ]
    .into();
    let specs = test_mappers().get(&child_obj()).unwrap().lookups().to_vec();
    let (required, optional) = (specs[0].clone(), specs[1].clone());
    let mut deferred = 0;

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
    assert_eq!(deferred, 0);
}

#[test]
fn decide_first_lookup_that_resolves_fills_a_shared_slot() {
    // OrderItem: Product2Id and PricebookEntryId both fill the product slot.
    let product = LookupSpec::optional("Product2Id", SObject::PRODUCT2, Link::Product);
    let entry = LookupSpec::optional("PricebookEntryId", SObject::PRICEBOOK_ENTRY, Link::Product);
    let (p, e) = (id("01t", 1), id("01u", 1));
    let known: HashMap<IdKey, CrmId> = [(
        (SObject::PRICEBOOK_ENTRY, e.clone()),
        CrmId::new("prod-via-entry"),
    )]
    .into();
    let mut m = mapped(
        &SObject::ORDER_ITEM,
        id("802", 1),
        &[(product, p), (entry, e)],
    );
    m.record = CrmRecord::OrderLine(Default::default());
    let mut deferred = 0;
    let Decision::Write(w, warnings) = decide(
        &SObject::ORDER_ITEM,
        m,
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
    let mut deferred = 0;
    let d = decide(
        &SObject::ACCOUNT,
        m,
        &HashMap::new(),
        WriteMode::SkipExisting,
        &mut deferred,
    );
    let Decision::Write(_, warnings) = d else {
        panic!()
    };
    assert!(warnings.is_empty());
    assert_eq!(deferred, 1);
    // A record naming itself as its parent is neither deferred nor an error.
    let mut m = mapped(&SObject::ACCOUNT, id("001", 3), &[(spec, id("001", 3))]);
    m.record = CrmRecord::Account(Default::default());
    decide(
        &SObject::ACCOUNT,
        m,
        &HashMap::new(),
        WriteMode::SkipExisting,
        &mut deferred,
    );
    assert_eq!(deferred, 1);
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
