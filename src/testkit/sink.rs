//! Conformance checks for [`CrmSink`].
//!
//! The trait has no read method, so every check judges a sink by what its
//! calls return: ids, [`WriteAction`]s and per-record errors.

use rust_decimal::Decimal;

use super::{fixture, unique_tenant};
use crate::crm::Link;
use crate::error::RecordError;
use crate::id::{CrmId, SfId, TenantId};
use crate::object::SObject;
use crate::sink::{CrmSink, Relink, WriteAction, WriteBatch, WriteMode, WriteOutcome, WriteRecord};

async fn write(
    sink: &dyn CrmSink,
    tenant: &TenantId,
    object: &SObject,
    mode: WriteMode,
    records: Vec<WriteRecord>,
) -> Vec<Result<WriteOutcome, RecordError>> {
    let n = records.len();
    let batch = WriteBatch::new(object.clone(), mode, records);
    let out = sink.write_batch(tenant, &batch).await.unwrap_or_else(|e| {
        panic!("write_batch of {n} {object} for {tenant} failed as a whole: {e}")
    });
    assert_eq!(
        out.len(),
        n,
        "write_batch must return one result per record ({object}, {n} records)"
    );
    out
}

/// Writes records that must all succeed; returns their outcomes.
async fn write_ok(
    sink: &dyn CrmSink,
    tenant: &TenantId,
    object: &SObject,
    mode: WriteMode,
    records: Vec<WriteRecord>,
) -> Vec<WriteOutcome> {
    let ids: Vec<SfId> = records.iter().map(|r| r.sf_id.clone()).collect();
    write(sink, tenant, object, mode, records)
        .await
        .into_iter()
        .zip(ids)
        .map(|(r, id)| r.unwrap_or_else(|e| panic!("{object} {id} should have been written: {e}")))
        .collect()
}

async fn write_one(
    sink: &dyn CrmSink,
    tenant: &TenantId,
    object: &SObject,
    record: WriteRecord,
) -> CrmId {
    write_ok(sink, tenant, object, WriteMode::SkipExisting, vec![record])
        .await
        .remove(0)
        .crm_id
}

fn assert_distinct(ids: &[CrmId], what: &str) {
    let set: std::collections::HashSet<&CrmId> = ids.iter().collect();
    assert_eq!(
        set.len(),
        ids.len(),
        "{what}: CRM ids must be distinct, got {ids:?}"
    );
}

/// An empty batch returns an empty vec.
pub async fn empty_batch(sink: &dyn CrmSink) {
    let tenant = unique_tenant();
    let out = write(
        sink,
        &tenant,
        &SObject::ACCOUNT,
        WriteMode::SkipExisting,
        vec![],
    )
    .await;
    assert!(out.is_empty(), "an empty batch must return no results");
    let out = write(sink, &tenant, &SObject::ACCOUNT, WriteMode::Update, vec![]).await;
    assert!(
        out.is_empty(),
        "an empty batch in Update mode must return no results"
    );
}

/// A first write creates every record and returns their ids in order,
/// one distinct id per record.
pub async fn write_creates_in_order(sink: &dyn CrmSink) {
    let tenant = unique_tenant();
    let ids = fixture::sf_ids(&SObject::ACCOUNT, 5);
    let out = write_ok(
        sink,
        &tenant,
        &SObject::ACCOUNT,
        WriteMode::SkipExisting,
        ids.iter().map(fixture::account).collect(),
    )
    .await;
    for (o, id) in out.iter().zip(&ids) {
        assert_eq!(
            o.action,
            WriteAction::Created,
            "first write of Account {id} must be Created"
        );
    }
    let crm: Vec<CrmId> = out.iter().map(|o| o.crm_id.clone()).collect();
    assert_distinct(&crm, "five new accounts");

    // Order: writing each record alone again gives back the id at its position.
    for (i, id) in ids.iter().enumerate() {
        let again = write_one(sink, &tenant, &SObject::ACCOUNT, fixture::account(id)).await;
        assert_eq!(
            again, crm[i],
            "result {i} of the batch must belong to Account {id} (results in record order)"
        );
    }
}

/// A second write of the same (tenant, object, Salesforce id) in
/// [`WriteMode::SkipExisting`] returns the same id, `AlreadyPresent`, and
/// creates nothing new.
pub async fn skip_existing_is_idempotent(sink: &dyn CrmSink) {
    let tenant = unique_tenant();
    let ids = fixture::sf_ids(&SObject::ACCOUNT, 3);
    let first = write_ok(
        sink,
        &tenant,
        &SObject::ACCOUNT,
        WriteMode::SkipExisting,
        ids.iter().map(fixture::account).collect(),
    )
    .await;
    // Again, with changed values and one new record in the middle.
    let new_id = fixture::sf_id(&SObject::ACCOUNT, 99);
    let records = vec![
        fixture::account_named(&ids[0], "changed"),
        fixture::account(&new_id),
        fixture::account_named(&ids[1], "changed"),
        fixture::account(&ids[2]),
    ];
    let second = write_ok(
        sink,
        &tenant,
        &SObject::ACCOUNT,
        WriteMode::SkipExisting,
        records,
    )
    .await;
    for (o, (f, id)) in [&second[0], &second[2], &second[3]]
        .into_iter()
        .zip(first.iter().zip(&ids))
    {
        assert_eq!(
            o.crm_id, f.crm_id,
            "second write of Account {id} must return the same CRM id"
        );
        assert_eq!(
            o.action,
            WriteAction::AlreadyPresent,
            "second write of Account {id} in SkipExisting mode"
        );
    }
    assert_eq!(
        second[1].action,
        WriteAction::Created,
        "a new record among existing ones is Created"
    );
    let mut all: Vec<CrmId> = first.iter().map(|o| o.crm_id.clone()).collect();
    all.push(second[1].crm_id.clone());
    assert_distinct(&all, "three accounts plus one new one");

    // A third time: still nothing new.
    let third = write_ok(
        sink,
        &tenant,
        &SObject::ACCOUNT,
        WriteMode::SkipExisting,
        vec![fixture::account(&new_id)],
    )
    .await;
    assert_eq!(
        third[0].crm_id, second[1].crm_id,
        "a third write returns the same CRM id"
    );
    assert_eq!(
        third[0].action,
        WriteAction::AlreadyPresent,
        "a third write in SkipExisting mode is AlreadyPresent"
    );
}

/// The same Salesforce id twice in one batch is one record: the second
/// result has the first's id and is not `Created`.
pub async fn duplicate_within_batch(sink: &dyn CrmSink) {
    let tenant = unique_tenant();
    let id = fixture::sf_id(&SObject::ACCOUNT, 1);
    let out = write_ok(
        sink,
        &tenant,
        &SObject::ACCOUNT,
        WriteMode::SkipExisting,
        vec![fixture::account(&id), fixture::account(&id)],
    )
    .await;
    assert_eq!(
        out[0].action,
        WriteAction::Created,
        "first write of the duplicated sf_id is Created"
    );
    assert_eq!(
        out[1].crm_id, out[0].crm_id,
        "the same Salesforce id twice in a batch must map to one CRM id"
    );
    assert_eq!(
        out[1].action,
        WriteAction::AlreadyPresent,
        "the repeat in one batch must not be Created"
    );
}

/// [`WriteMode::Update`] updates existing records in place: same id,
/// `Updated`; new records are still `Created`.
pub async fn update_mode_updates_in_place(sink: &dyn CrmSink) {
    let tenant = unique_tenant();
    let id = fixture::sf_id(&SObject::ACCOUNT, 1);
    let first = write_ok(
        sink,
        &tenant,
        &SObject::ACCOUNT,
        WriteMode::Update,
        vec![fixture::account_named(&id, "v1")],
    )
    .await;
    assert_eq!(
        first[0].action,
        WriteAction::Created,
        "a new record in Update mode is Created"
    );

    let mut rec = fixture::account_named(&id, "v2");
    rec.existing = Some(first[0].crm_id.clone());
    let new_id = fixture::sf_id(&SObject::ACCOUNT, 2);
    let second = write_ok(
        sink,
        &tenant,
        &SObject::ACCOUNT,
        WriteMode::Update,
        vec![rec, fixture::account(&new_id)],
    )
    .await;
    assert_eq!(
        second[0].crm_id, first[0].crm_id,
        "Update must keep the CRM id"
    );
    assert_eq!(
        second[0].action,
        WriteAction::Updated,
        "a record written before is Updated in Update mode"
    );
    assert_eq!(
        second[1].action,
        WriteAction::Created,
        "a new record in Update mode is Created"
    );
    assert_ne!(
        second[1].crm_id, first[0].crm_id,
        "a new record must not get an existing record's CRM id"
    );

    // Update without `existing` (the id map lost it): still found by key.
    let third = write_ok(
        sink,
        &tenant,
        &SObject::ACCOUNT,
        WriteMode::Update,
        vec![fixture::account_named(&id, "v3")],
    )
    .await;
    assert_eq!(
        third[0].crm_id, first[0].crm_id,
        "Update must find the record by (tenant, object, sf_id)"
    );
    assert_eq!(
        third[0].action,
        WriteAction::Updated,
        "a record written before is Updated in Update mode (found by key)"
    );

    // And SkipExisting afterwards sees it as present.
    let fourth = write_ok(
        sink,
        &tenant,
        &SObject::ACCOUNT,
        WriteMode::SkipExisting,
        vec![fixture::account(&id)],
    )
    .await;
    assert_eq!(
        fourth[0].crm_id, first[0].crm_id,
        "SkipExisting after Update returns the same CRM id"
    );
    assert_eq!(
        fourth[0].action,
        WriteAction::AlreadyPresent,
        "SkipExisting after Update is AlreadyPresent"
    );
}

/// The same Salesforce id under two tenants gives two independent records.
pub async fn tenants_are_independent(sink: &dyn CrmSink) {
    let (a, b) = (unique_tenant(), unique_tenant());
    let id = fixture::sf_id(&SObject::ACCOUNT, 1);
    let in_a = write_one(sink, &a, &SObject::ACCOUNT, fixture::account(&id)).await;
    let out_b = write_ok(
        sink,
        &b,
        &SObject::ACCOUNT,
        WriteMode::SkipExisting,
        vec![fixture::account(&id)],
    )
    .await;
    assert_eq!(
        out_b[0].action,
        WriteAction::Created,
        "the same sf_id under another tenant is a new record"
    );
    assert_ne!(
        out_b[0].crm_id, in_a,
        "two tenants' records must not share a CRM id"
    );

    // Updating in one tenant does not touch the other.
    let up_a = write_ok(
        sink,
        &a,
        &SObject::ACCOUNT,
        WriteMode::Update,
        vec![fixture::account(&id)],
    )
    .await;
    assert_eq!(up_a[0].crm_id, in_a, "Update in tenant A keeps A's CRM id");
    assert_eq!(
        up_a[0].action,
        WriteAction::Updated,
        "Update in tenant A of a record written before is Updated"
    );
    let again_b = write_one(sink, &b, &SObject::ACCOUNT, fixture::account(&id)).await;
    assert_eq!(
        again_b, out_b[0].crm_id,
        "tenant B's record keeps its own CRM id"
    );
}

/// The same Salesforce id under two objects is two keys.
pub async fn objects_are_distinct_keys(sink: &dyn CrmSink) {
    let tenant = unique_tenant();
    // Deliberately the same id text for both objects.
    let id = fixture::sf_id(&SObject::ACCOUNT, 7);
    let account = write_one(sink, &tenant, &SObject::ACCOUNT, fixture::account(&id)).await;
    let out = write_ok(
        sink,
        &tenant,
        &SObject::CONTACT,
        WriteMode::SkipExisting,
        vec![fixture::contact(&id, None)],
    )
    .await;
    assert_eq!(
        out[0].action,
        WriteAction::Created,
        "the same sf_id under another object is a new record"
    );
    assert_ne!(
        out[0].crm_id, account,
        "records of two objects must not share a CRM id"
    );
}

/// A record whose required reference is empty or names no record is a
/// per-record error; the rest of the batch is written, one result per
/// record, in order.
pub async fn missing_required_reference_is_record_error(sink: &dyn CrmSink) {
    let tenant = unique_tenant();
    let account = write_one(
        sink,
        &tenant,
        &SObject::ACCOUNT,
        fixture::account(&fixture::sf_id(&SObject::ACCOUNT, 1)),
    )
    .await;
    let orders = fixture::sf_ids(&SObject::ORDER, 4);
    let out = write(
        sink,
        &tenant,
        &SObject::ORDER,
        WriteMode::SkipExisting,
        vec![
            fixture::order(&orders[0], Some(account.clone())),
            fixture::order(&orders[1], None),
            fixture::order(&orders[2], Some(CrmId::new("no-such-record-4f1c"))),
            fixture::order(&orders[3], Some(account.clone())),
        ],
    )
    .await;
    let ok0 = out[0]
        .as_ref()
        .expect("Order 1 has its account and must be written");
    assert_eq!(
        ok0.action,
        WriteAction::Created,
        "Order 1 with its account is Created"
    );
    for (i, why) in [(1, "no account"), (2, "an account that does not exist")] {
        let err = out[i]
            .as_ref()
            .err()
            .unwrap_or_else(|| panic!("Order {} with {why} must be a RecordError", orders[i]));
        assert_eq!(
            err.object,
            SObject::ORDER,
            "the RecordError must name the object"
        );
        assert_eq!(
            err.sf_id.as_ref(),
            Some(&orders[i]),
            "the RecordError must name the record (result {i})"
        );
    }
    let ok3 = out[3]
        .as_ref()
        .expect("Order 4 after two failures must still be written");
    assert_eq!(
        ok3.action,
        WriteAction::Created,
        "Order 4 with its account is Created"
    );
    assert_ne!(ok0.crm_id, ok3.crm_id, "two orders must not share a CRM id");

    // Order lines need their order.
    let lines = fixture::sf_ids(&SObject::ORDER_ITEM, 2);
    let out = write(
        sink,
        &tenant,
        &SObject::ORDER_ITEM,
        WriteMode::SkipExisting,
        vec![
            fixture::order_line(&lines[0], None, None),
            fixture::order_line(&lines[1], Some(ok0.crm_id.clone()), None),
        ],
    )
    .await;
    let err = out[0]
        .as_ref()
        .expect_err("an OrderItem without its order must be a RecordError");
    assert_eq!(
        err.sf_id.as_ref(),
        Some(&lines[0]),
        "the RecordError must name the record"
    );
    assert_eq!(
        err.object,
        SObject::ORDER_ITEM,
        "the RecordError must name the object"
    );
    assert!(
        out[1].is_ok(),
        "an OrderItem with its order must be written: {:?}",
        out[1]
    );

    // A failed record was not created: writing it again with its reference creates it.
    let retry = write_ok(
        sink,
        &tenant,
        &SObject::ORDER,
        WriteMode::SkipExisting,
        vec![fixture::order(&orders[1], Some(account))],
    )
    .await;
    assert_eq!(
        retry[0].action,
        WriteAction::Created,
        "a record that failed before must not count as present"
    );
}

/// A reference to another tenant's record is not a valid reference.
pub async fn reference_to_other_tenant_is_record_error(sink: &dyn CrmSink) {
    let (a, b) = (unique_tenant(), unique_tenant());
    let account_a = write_one(
        sink,
        &a,
        &SObject::ACCOUNT,
        fixture::account(&fixture::sf_id(&SObject::ACCOUNT, 1)),
    )
    .await;
    let order = fixture::sf_id(&SObject::ORDER, 1);
    let out = write(
        sink,
        &b,
        &SObject::ORDER,
        WriteMode::SkipExisting,
        vec![fixture::order(&order, Some(account_a))],
    )
    .await;
    assert!(
        out[0].is_err(),
        "an Order of tenant B referring to tenant A's account must be a RecordError, got {:?}",
        out[0]
    );
}

/// A price book entry onto an existing product returns the product's id;
/// written again it keeps returning that id.
pub async fn price_entry_returns_product_id(sink: &dyn CrmSink) {
    let tenant = unique_tenant();
    let products = fixture::sf_ids(&SObject::PRODUCT2, 2);
    let p = write_ok(
        sink,
        &tenant,
        &SObject::PRODUCT2,
        WriteMode::SkipExisting,
        products.iter().map(fixture::product).collect(),
    )
    .await;
    let entries = fixture::sf_ids(&SObject::PRICEBOOK_ENTRY, 3);
    let out = write(
        sink,
        &tenant,
        &SObject::PRICEBOOK_ENTRY,
        WriteMode::SkipExisting,
        vec![
            fixture::price(
                &entries[0],
                Some(p[0].crm_id.clone()),
                Decimal::new(1999, 2),
            ),
            fixture::price(&entries[1], None, Decimal::ONE),
            fixture::price(&entries[2], Some(p[1].crm_id.clone()), Decimal::TEN),
        ],
    )
    .await;
    let e0 = out[0]
        .as_ref()
        .expect("a price entry onto an existing product must be written");
    assert_eq!(
        e0.crm_id, p[0].crm_id,
        "a price book entry's result must be its PRODUCT's CRM id"
    );
    assert!(
        matches!(e0.action, WriteAction::Created | WriteAction::Updated),
        "first write of a price entry: Created or Updated, got {:?}",
        e0.action
    );
    assert!(
        out[1].is_err(),
        "a price entry without a product must be a RecordError"
    );
    assert_eq!(
        out[2].as_ref().expect("third entry").crm_id,
        p[1].crm_id,
        "a price book entry's result must be its PRODUCT's CRM id"
    );

    // Again, SkipExisting: same product id, not created.
    let again = write_ok(
        sink,
        &tenant,
        &SObject::PRICEBOOK_ENTRY,
        WriteMode::SkipExisting,
        vec![fixture::price(
            &entries[0],
            Some(p[0].crm_id.clone()),
            Decimal::new(1999, 2),
        )],
    )
    .await;
    assert_eq!(
        again[0].crm_id, p[0].crm_id,
        "a price entry written again returns its product's CRM id"
    );
    assert_eq!(
        again[0].action,
        WriteAction::AlreadyPresent,
        "a price entry written before, SkipExisting"
    );
}

/// A price book entry written before keeps its id in
/// [`WriteMode::SkipExisting`], even if it now names another product
/// (the same key returns the same CRM id).
pub async fn price_entry_skip_existing_keeps_product(sink: &dyn CrmSink) {
    let tenant = unique_tenant();
    let products = fixture::sf_ids(&SObject::PRODUCT2, 2);
    let p = write_ok(
        sink,
        &tenant,
        &SObject::PRODUCT2,
        WriteMode::SkipExisting,
        products.iter().map(fixture::product).collect(),
    )
    .await;
    let entry = fixture::sf_id(&SObject::PRICEBOOK_ENTRY, 1);
    write_ok(
        sink,
        &tenant,
        &SObject::PRICEBOOK_ENTRY,
        WriteMode::SkipExisting,
        vec![fixture::price(
            &entry,
            Some(p[0].crm_id.clone()),
            Decimal::ONE,
        )],
    )
    .await;
    let again = write_ok(
        sink,
        &tenant,
        &SObject::PRICEBOOK_ENTRY,
        WriteMode::SkipExisting,
        vec![fixture::price(
            &entry,
            Some(p[1].crm_id.clone()),
            Decimal::TEN,
        )],
    )
    .await;
    assert_eq!(
        again[0].crm_id, p[0].crm_id,
        "SkipExisting: a price entry written before must return the CRM id it got the first time"
    );
    assert_eq!(
        again[0].action,
        WriteAction::AlreadyPresent,
        "a price entry written before, SkipExisting, is AlreadyPresent"
    );
}

/// A price book entry onto a record that is not a product is a record error.
pub async fn price_entry_onto_non_product_is_record_error(sink: &dyn CrmSink) {
    let tenant = unique_tenant();
    let account = write_one(
        sink,
        &tenant,
        &SObject::ACCOUNT,
        fixture::account(&fixture::sf_id(&SObject::ACCOUNT, 1)),
    )
    .await;
    let entry = fixture::sf_id(&SObject::PRICEBOOK_ENTRY, 1);
    let out = write(
        sink,
        &tenant,
        &SObject::PRICEBOOK_ENTRY,
        WriteMode::SkipExisting,
        vec![fixture::price(&entry, Some(account), Decimal::ONE)],
    )
    .await;
    let err = out[0]
        .as_ref()
        .expect_err("a price entry onto an account must be a RecordError");
    assert_eq!(
        err.sf_id.as_ref(),
        Some(&entry),
        "the RecordError must name the record"
    );
}

/// Relink sets a reference on a written record (one result per link, in
/// order) and reports a per-link error for a target that does not exist.
pub async fn relink_sets_parent(sink: &dyn CrmSink) {
    let tenant = unique_tenant();
    let ids = fixture::sf_ids(&SObject::ACCOUNT, 3);
    let acc = write_ok(
        sink,
        &tenant,
        &SObject::ACCOUNT,
        WriteMode::SkipExisting,
        ids.iter().map(fixture::account).collect(),
    )
    .await;
    let links = vec![
        Relink::new(
            acc[0].crm_id.clone(),
            ids[0].clone(),
            Link::ParentAccount,
            acc[1].crm_id.clone(),
        ),
        Relink::new(
            acc[1].crm_id.clone(),
            ids[1].clone(),
            Link::ParentAccount,
            CrmId::new("no-such-record-4f1c"),
        ),
        Relink::new(
            acc[2].crm_id.clone(),
            ids[2].clone(),
            Link::ParentAccount,
            acc[1].crm_id.clone(),
        ),
    ];
    let out = sink
        .relink(&tenant, &SObject::ACCOUNT, &links)
        .await
        .unwrap_or_else(|e| panic!("relink failed as a whole: {e}"));
    assert_eq!(out.len(), 3, "relink must return one result per link");
    assert!(out[0].is_ok(), "relink to an existing parent: {:?}", out[0]);
    let err = out[1]
        .as_ref()
        .expect_err("relink to a missing target must be a per-link error");
    assert_eq!(
        err.sf_id.as_ref(),
        Some(&ids[1]),
        "the relink error must name the record"
    );
    assert_eq!(
        err.object,
        SObject::ACCOUNT,
        "the relink error must name the object"
    );
    assert!(
        out[2].is_ok(),
        "a link after a failed one must still be applied: {:?}",
        out[2]
    );

    let empty = sink
        .relink(&tenant, &SObject::ACCOUNT, &[])
        .await
        .expect("empty relink");
    assert!(empty.is_empty(), "relink of no links returns no results");
}

/// Relink is scoped to the tenant: another tenant's record or target is a
/// per-link error.
pub async fn relink_is_tenant_scoped(sink: &dyn CrmSink) {
    let (a, b) = (unique_tenant(), unique_tenant());
    let ids = fixture::sf_ids(&SObject::ACCOUNT, 2);
    let in_a = write_ok(
        sink,
        &a,
        &SObject::ACCOUNT,
        WriteMode::SkipExisting,
        ids.iter().map(fixture::account).collect(),
    )
    .await;
    let in_b = write_one(sink, &b, &SObject::ACCOUNT, fixture::account(&ids[0])).await;
    let links = vec![
        // B's record, A's parent.
        Relink::new(
            in_b.clone(),
            ids[0].clone(),
            Link::ParentAccount,
            in_a[1].crm_id.clone(),
        ),
        // A's record (not B's), B's parent.
        Relink::new(
            in_a[0].crm_id.clone(),
            ids[0].clone(),
            Link::ParentAccount,
            in_b.clone(),
        ),
    ];
    let out = sink
        .relink(&b, &SObject::ACCOUNT, &links)
        .await
        .expect("relink");
    assert_eq!(out.len(), 2, "relink must return one result per link");
    assert!(
        out[0].is_err(),
        "relink to another tenant's target must fail: {:?}",
        out[0]
    );
    assert!(
        out[1].is_err(),
        "relink of another tenant's record must fail: {:?}",
        out[1]
    );
}

/// A batch of many records gives one result per record with distinct ids.
pub async fn large_batch(sink: &dyn CrmSink) {
    let tenant = unique_tenant();
    let ids = fixture::sf_ids(&SObject::CONTACT, 500);
    let out = write_ok(
        sink,
        &tenant,
        &SObject::CONTACT,
        WriteMode::SkipExisting,
        ids.iter().map(|id| fixture::contact(id, None)).collect(),
    )
    .await;
    assert!(
        out.iter().all(|o| o.action == WriteAction::Created),
        "every new contact is Created"
    );
    let crm: Vec<CrmId> = out.into_iter().map(|o| o.crm_id).collect();
    assert_distinct(&crm, "500 new contacts");
}

/// Several price book entries (the standard price book's and custom ones)
/// name the same product, in one batch and across batches: each is written
/// and answers with the product's CRM id.
pub async fn price_entries_share_a_product(sink: &dyn CrmSink) {
    let tenant = unique_tenant();
    let product = fixture::sf_id(&SObject::PRODUCT2, 1);
    let p = write_ok(
        sink,
        &tenant,
        &SObject::PRODUCT2,
        WriteMode::SkipExisting,
        vec![fixture::product(&product)],
    )
    .await;
    let product_id = p[0].crm_id.clone();
    let entries = fixture::sf_ids(&SObject::PRICEBOOK_ENTRY, 3);
    let first = write_ok(
        sink,
        &tenant,
        &SObject::PRICEBOOK_ENTRY,
        WriteMode::SkipExisting,
        vec![
            fixture::price(&entries[0], Some(product_id.clone()), Decimal::TEN),
            fixture::price(&entries[1], Some(product_id.clone()), Decimal::ONE),
        ],
    )
    .await;
    let second = write_ok(
        sink,
        &tenant,
        &SObject::PRICEBOOK_ENTRY,
        WriteMode::SkipExisting,
        vec![fixture::price(
            &entries[2],
            Some(product_id.clone()),
            Decimal::TWO,
        )],
    )
    .await;
    for outcome in first.iter().chain(&second) {
        assert_eq!(
            outcome.crm_id, product_id,
            "every price book entry of a product answers with the product's CRM id"
        );
    }
}

/// [`CrmSink::delete_batch`] is optional: a sink without it answers
/// exactly [`Error::Unsupported`](crate::error::Error::Unsupported) (the engine
/// then logs one warning per object and keeps the records). A sink with it
/// answers one result per record: `Ok` for an imported record (again `Ok`
/// for a second deletion), a record error naming the Salesforce id for one
/// it does not have; and a later write of the record in
/// [`WriteMode::Update`] (restored from Salesforce's recycle bin) updates
/// the same CRM record.
pub async fn deletions_or_unsupported(sink: &dyn CrmSink) {
    use crate::sink::Deletion;
    let tenant = unique_tenant();
    let ids = fixture::sf_ids(&SObject::ACCOUNT, 3);
    let written = write_ok(
        sink,
        &tenant,
        &SObject::ACCOUNT,
        WriteMode::SkipExisting,
        ids.iter().map(fixture::account).collect(),
    )
    .await;
    let unknown = fixture::sf_id(&SObject::ACCOUNT, 77);
    let deletions = vec![
        Deletion::new(ids[0].clone(), written[0].crm_id.clone(), fixture::at(5)),
        Deletion::new(
            unknown.clone(),
            CrmId::new("no-such-record"),
            fixture::at(5),
        ),
        Deletion::new(ids[2].clone(), written[2].crm_id.clone(), fixture::at(6)),
    ];
    let results = match sink
        .delete_batch(&tenant, &SObject::ACCOUNT, &deletions)
        .await
    {
        Err(crate::error::Error::Unsupported { .. }) => return,
        Err(e) => panic!("delete_batch must answer per record, or Unsupported: {e}"),
        Ok(results) => results,
    };
    assert_eq!(results.len(), 3, "one result per deletion, in order");
    assert!(
        results[0].is_ok(),
        "deleting Account {}: {:?}",
        ids[0],
        results[0]
    );
    assert!(
        results[2].is_ok(),
        "deleting Account {}: {:?}",
        ids[2],
        results[2]
    );
    let err = results[1]
        .as_ref()
        .expect_err("deleting a record the sink does not have is a record error");
    assert_eq!(
        err.sf_id.as_ref(),
        Some(&unknown),
        "the error names the record"
    );

    let again = sink
        .delete_batch(&tenant, &SObject::ACCOUNT, &deletions[..1])
        .await
        .expect("a second deletion");
    assert!(
        again[0].is_ok(),
        "deleting twice is harmless: {:?}",
        again[0]
    );

    let other = unique_tenant();
    let theirs = sink
        .delete_batch(&other, &SObject::ACCOUNT, &deletions[2..])
        .await
        .expect("delete_batch for another tenant");
    assert!(
        theirs[0].is_err(),
        "another tenant cannot delete this tenant's record"
    );

    let back = write_ok(
        sink,
        &tenant,
        &SObject::ACCOUNT,
        WriteMode::Update,
        vec![fixture::account_named(&ids[0], "restored")],
    )
    .await;
    assert_eq!(
        back[0].crm_id, written[0].crm_id,
        "a restored record is written over the record it was"
    );
    assert_eq!(back[0].action, WriteAction::Updated);
}
