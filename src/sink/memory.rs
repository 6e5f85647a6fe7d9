//! The in-memory [`CrmSink`]: the reference implementation of the contract.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use chrono::{DateTime, Utc};

use super::pack::Packed;
use super::{CrmSink, Deletion, Relink, WriteAction, WriteBatch, WriteMode, WriteOutcome};
use crate::crm::{CrmRecord, Link};
use crate::error::{Problem, RecordError, Result};
use crate::id::{CrmId, SfId, TenantId};
use crate::object::SObject;

/// A thread-safe in-memory CRM: what tests, examples and doc examples write
/// into, and the reference every other sink is checked against.
///
/// `Clone` shares the state; [`fork`](InMemorySink::fork) copies it.
///
/// Price book entries are written onto their product (the product's price is
/// set from the standard price book) and so create no record of their own.
#[derive(Debug, Clone, Default)]
pub struct InMemorySink {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Clone, Default)]
struct State {
    /// The tenants seen, interned: a row names its tenant by position.
    tenants: Vec<TenantId>,
    /// (tenant, object, Salesforce id) -> CRM id: the idempotency key.
    /// Ids are kept inline ([`SfId::to_bytes`]): no allocation a key.
    keys: HashMap<(u32, SObject, [u8; 18]), u64, foldhash::fast::RandomState>,
    /// The records: CRM id `n` (numbered across tenants) is `rows[n - 1]`.
    rows: Vec<Stored>,
    /// Reused to pack records.
    scratch: Vec<u8>,
}

/// One record, packed: a few dozen bytes more than its text.
#[derive(Debug, Clone)]
struct Stored {
    tenant: u32,
    object: SObject,
    sf_id: [u8; 18],
    record: Packed,
    /// Set when deleted in Salesforce (soft delete); cleared by a write.
    deleted_at: Option<DateTime<Utc>>,
}

impl InMemorySink {
    /// An empty sink.
    pub fn new() -> InMemorySink {
        InMemorySink::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave `State` half-updated:
        // every mutation below is a single insert.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A deep copy, independent from now on: for crash-and-resume tests.
    pub fn fork(&self) -> InMemorySink {
        InMemorySink {
            state: Arc::new(Mutex::new(self.lock().clone())),
        }
    }

    /// How many records of `object` the tenant has (price book entries:
    /// how many were applied to products).
    pub fn count(&self, tenant: &TenantId, object: &SObject) -> usize {
        let s = self.lock();
        let Some(t) = s.tenant(tenant) else {
            return 0;
        };
        s.keys
            .keys()
            .filter(|(kt, o, _)| *kt == t && o == object)
            .count()
    }

    /// The CRM id and record written for a Salesforce record.
    pub fn get(
        &self,
        tenant: &TenantId,
        object: &SObject,
        sf_id: &SfId,
    ) -> Option<(CrmId, CrmRecord)> {
        let s = self.lock();
        let t = s.tenant(tenant)?;
        let n = *s.keys.get(&(t, object.clone(), sf_id.to_bytes()))?;
        Some((crm_id(n), s.rows[row(n)].record.unpack()))
    }

    /// The record with this CRM id.
    pub fn record(&self, tenant: &TenantId, crm_id: &CrmId) -> Option<CrmRecord> {
        let s = self.lock();
        s.stored(tenant, crm_id).map(|r| r.record.unpack())
    }

    /// When the record with this CRM id was deleted, if it was (deleted
    /// records are kept, marked).
    pub fn deleted_at(&self, tenant: &TenantId, crm_id: &CrmId) -> Option<DateTime<Utc>> {
        self.lock()
            .stored(tenant, crm_id)
            .and_then(|s| s.deleted_at)
    }

    /// Every record of `object` for the tenant, deleted ones included
    /// (see [`deleted_at`](InMemorySink::deleted_at)), with its Salesforce
    /// and CRM ids, in the order they were created.
    pub fn records(&self, tenant: &TenantId, object: &SObject) -> Vec<(SfId, CrmId, CrmRecord)> {
        let s = self.lock();
        let Some(t) = s.tenant(tenant) else {
            return Vec::new();
        };
        s.rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.tenant == t && &r.object == object)
            .map(|(i, r)| {
                (
                    SfId::from_bytes(r.sf_id),
                    crm_id(i as u64 + 1),
                    r.record.unpack(),
                )
            })
            .collect()
    }
}

/// The CRM id of row number `n` (from 1).
fn crm_id(n: u64) -> CrmId {
    CrmId::new(n.to_string())
}

/// The position in `rows` of CRM id number `n`.
fn row(n: u64) -> usize {
    usize::try_from(n - 1).expect("row numbers fit in memory")
}

fn rejected(object: &SObject, sf_id: &SfId, field: &'static str, reason: &str) -> RecordError {
    RecordError::new(
        object.clone(),
        Some(sf_id.clone()),
        field,
        Problem::Rejected {
            reason: reason.into(),
        },
    )
}

impl State {
    fn tenant(&self, tenant: &TenantId) -> Option<u32> {
        self.tenants
            .iter()
            .position(|t| t == tenant)
            .map(|i| i as u32)
    }

    fn tenant_or_add(&mut self, tenant: &TenantId) -> u32 {
        self.tenant(tenant).unwrap_or_else(|| {
            self.tenants.push(tenant.clone());
            (self.tenants.len() - 1) as u32
        })
    }

    /// The CRM id's number, when it names a record of this tenant.
    fn number(&self, tenant: &TenantId, id: &CrmId) -> Option<u64> {
        let t = self.tenant(tenant)?;
        let n: u64 = id.as_str().parse().ok().filter(|&n| n >= 1)?;
        (self.rows.get(row(n))?.tenant == t).then_some(n)
    }

    fn stored(&self, tenant: &TenantId, id: &CrmId) -> Option<&Stored> {
        self.number(tenant, id).map(|n| &self.rows[row(n)])
    }

    fn exists(&self, tenant: &TenantId, id: &CrmId) -> bool {
        self.number(tenant, id).is_some()
    }

    /// The CRM's own integrity rules: required references must name records
    /// that exist.
    fn check(
        &self,
        tenant: &TenantId,
        object: &SObject,
        sf_id: &SfId,
        rec: &CrmRecord,
    ) -> Result<(), RecordError> {
        let required: &[(Link, &'static str)] = match rec {
            CrmRecord::Order(_) => &[(Link::Account, "AccountId")],
            CrmRecord::OrderLine(_) => &[(Link::Order, "OrderId")],
            CrmRecord::QuoteLine(_) => &[(Link::Quote, "QuoteId")],
            CrmRecord::ProductPrice(_) => &[(Link::Product, "Product2Id")],
            _ => &[],
        };
        for (link, field) in required {
            match rec.link(link) {
                None => {
                    return Err(rejected(
                        object,
                        sf_id,
                        field,
                        "required reference is empty",
                    ));
                }
                Some(id) if !self.exists(tenant, id) => {
                    return Err(rejected(
                        object,
                        sf_id,
                        field,
                        "refers to a record that does not exist",
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Replaces a row's record.
    fn repack(&mut self, n: u64, rec: &CrmRecord) {
        let packed = Packed::new(rec, &mut self.scratch);
        self.rows[row(n)].record = packed;
    }

    fn write_one(
        &mut self,
        tenant: &TenantId,
        object: &SObject,
        mode: WriteMode,
        sf_id: &SfId,
        rec: &CrmRecord,
    ) -> Result<WriteOutcome, RecordError> {
        self.check(tenant, object, sf_id, rec)?;
        let t = self.tenant_or_add(tenant);
        let key = (t, object.clone(), sf_id.to_bytes());
        // A price book entry is written onto its product.
        if let CrmRecord::ProductPrice(price) = rec {
            // Written before: in SkipExisting mode leave the product alone
            // and answer with the id the entry got the first time.
            if mode == WriteMode::SkipExisting
                && let Some(&n) = self.keys.get(&key)
            {
                return Ok(WriteOutcome::new(crm_id(n), WriteAction::AlreadyPresent));
            }
            let product = price.product.clone().expect("checked above");
            let n = self.number(tenant, &product).expect("checked above");
            let CrmRecord::Product(mut p) = self.rows[row(n)].record.unpack() else {
                return Err(rejected(
                    object,
                    sf_id,
                    "Product2Id",
                    "refers to a record that is not a product",
                ));
            };
            if price.price.is_some() {
                p.price = price.price;
                p.currency = price.currency.clone().or(p.currency.take());
                self.repack(n, &CrmRecord::Product(p));
            }
            let action = match self.keys.insert(key, n) {
                None => WriteAction::Created,
                Some(_) if mode == WriteMode::Update => WriteAction::Updated,
                Some(_) => WriteAction::AlreadyPresent,
            };
            return Ok(WriteOutcome::new(product, action));
        }
        if let Some(&n) = self.keys.get(&key) {
            if mode == WriteMode::Update {
                self.repack(n, rec);
                self.rows[row(n)].deleted_at = None;
                return Ok(WriteOutcome::new(crm_id(n), WriteAction::Updated));
            }
            return Ok(WriteOutcome::new(crm_id(n), WriteAction::AlreadyPresent));
        }
        let record = Packed::new(rec, &mut self.scratch);
        self.rows.push(Stored {
            tenant: t,
            object: object.clone(),
            sf_id: sf_id.to_bytes(),
            record,
            deleted_at: None,
        });
        let n = self.rows.len() as u64;
        self.keys.insert(key, n);
        Ok(WriteOutcome::new(crm_id(n), WriteAction::Created))
    }
}

#[async_trait]
impl CrmSink for InMemorySink {
    async fn write_batch(
        &self,
        tenant: &TenantId,
        batch: &WriteBatch,
    ) -> Result<Vec<Result<WriteOutcome, RecordError>>> {
        let mut state = self.lock();
        Ok(batch
            .records
            .iter()
            .map(|r| state.write_one(tenant, &batch.object, batch.mode, &r.sf_id, &r.record))
            .collect())
    }

    async fn delete_batch(
        &self,
        tenant: &TenantId,
        object: &SObject,
        records: &[Deletion],
    ) -> Result<Vec<Result<(), RecordError>>> {
        let mut state = self.lock();
        Ok(records
            .iter()
            .map(|d| {
                let n = state
                    .tenant(tenant)
                    .and_then(|t| state.keys.get(&(t, object.clone(), d.sf_id.to_bytes())))
                    .copied()
                    .filter(|&n| crm_id(n) == d.crm_id);
                let Some(n) = n else {
                    return Err(rejected(object, &d.sf_id, "Id", "no such record"));
                };
                if &state.rows[row(n)].object == object {
                    state.rows[row(n)].deleted_at.get_or_insert(d.deleted_at);
                } else if let CrmRecord::Product(mut p) = state.rows[row(n)].record.unpack() {
                    // A price book entry lives on its product: deleting
                    // the entry takes the price away.
                    p.price = None;
                    state.repack(n, &CrmRecord::Product(p));
                }
                Ok(())
            })
            .collect())
    }

    async fn relink(
        &self,
        tenant: &TenantId,
        object: &SObject,
        links: &[Relink],
    ) -> Result<Vec<Result<(), RecordError>>> {
        let mut state = self.lock();
        Ok(links
            .iter()
            .map(|l| {
                if !state.exists(tenant, &l.target) {
                    return Err(rejected(
                        object,
                        &l.sf_id,
                        "ParentId",
                        "refers to a record that does not exist",
                    ));
                }
                let n = state
                    .number(tenant, &l.crm_id)
                    .ok_or_else(|| rejected(object, &l.sf_id, "Id", "no such record"))?;
                let mut record = state.rows[row(n)].record.unpack();
                if record.set_link(&l.link, l.target.clone()) {
                    state.repack(n, &record);
                    Ok(())
                } else {
                    Err(rejected(
                        object,
                        &l.sf_id,
                        "Id",
                        "the record has no such reference",
                    ))
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::testkit::{fixture, unique_tenant};

    /// SkipExisting must leave a product's price alone when its price book
    /// entry is written again (it used to re-apply the entry's price).
    #[tokio::test]
    async fn skip_existing_price_entry_leaves_product_alone() {
        let sink = InMemorySink::new();
        let tenant = unique_tenant();
        let p = fixture::sf_id(&SObject::PRODUCT2, 1);
        let batch = fixture::batch(
            SObject::PRODUCT2,
            WriteMode::SkipExisting,
            vec![fixture::product(&p)],
        );
        let product = sink
            .write_batch(&tenant, &batch)
            .await
            .unwrap()
            .remove(0)
            .unwrap()
            .crm_id;
        let e = fixture::sf_id(&SObject::PRICEBOOK_ENTRY, 1);
        for (mode, price) in [
            (WriteMode::SkipExisting, Decimal::ONE),
            (WriteMode::SkipExisting, Decimal::TEN),
        ] {
            let batch = fixture::batch(
                SObject::PRICEBOOK_ENTRY,
                mode,
                vec![fixture::price(&e, Some(product.clone()), price)],
            );
            sink.write_batch(&tenant, &batch)
                .await
                .unwrap()
                .remove(0)
                .unwrap();
        }
        let Some(CrmRecord::Product(p)) = sink.record(&tenant, &product) else {
            panic!("product")
        };
        assert_eq!(
            p.price,
            Some(Decimal::ONE),
            "the second SkipExisting write must not change the price"
        );

        let batch = fixture::batch(
            SObject::PRICEBOOK_ENTRY,
            WriteMode::Update,
            vec![fixture::price(&e, Some(product.clone()), Decimal::TEN)],
        );
        let out = sink
            .write_batch(&tenant, &batch)
            .await
            .unwrap()
            .remove(0)
            .unwrap();
        assert_eq!(out.action, WriteAction::Updated);
        let Some(CrmRecord::Product(p)) = sink.record(&tenant, &product) else {
            panic!("product")
        };
        assert_eq!(
            p.price,
            Some(Decimal::TEN),
            "Update mode applies the new price"
        );
    }
}
