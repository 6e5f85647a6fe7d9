//! The in-memory [`CrmSink`]: the reference implementation of the contract.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use chrono::{DateTime, Utc};

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
    next_id: u64,
    /// (tenant, object, Salesforce id) -> CRM id: the idempotency key.
    keys: HashMap<(TenantId, SObject, SfId), CrmId>,
    /// (tenant, CRM id) -> the record.
    records: BTreeMap<(TenantId, CrmId), Stored>,
}

#[derive(Debug, Clone)]
struct Stored {
    object: SObject,
    sf_id: SfId,
    record: CrmRecord,
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
        self.lock()
            .keys
            .keys()
            .filter(|(t, o, _)| t == tenant && o == object)
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
        let id = s
            .keys
            .get(&(tenant.clone(), object.clone(), sf_id.clone()))?;
        let stored = s.records.get(&(tenant.clone(), id.clone()))?;
        Some((id.clone(), stored.record.clone()))
    }

    /// The record with this CRM id.
    pub fn record(&self, tenant: &TenantId, crm_id: &CrmId) -> Option<CrmRecord> {
        self.lock()
            .records
            .get(&(tenant.clone(), crm_id.clone()))
            .map(|s| s.record.clone())
    }

    /// When the record with this CRM id was deleted, if it was (deleted
    /// records are kept, marked).
    pub fn deleted_at(&self, tenant: &TenantId, crm_id: &CrmId) -> Option<DateTime<Utc>> {
        self.lock()
            .records
            .get(&(tenant.clone(), crm_id.clone()))
            .and_then(|s| s.deleted_at)
    }

    /// Every record of `object` for the tenant, deleted ones included
    /// (see [`deleted_at`](InMemorySink::deleted_at)), with its Salesforce
    /// and CRM ids.
    pub fn records(&self, tenant: &TenantId, object: &SObject) -> Vec<(SfId, CrmId, CrmRecord)> {
        self.lock()
            .records
            .iter()
            .filter(|((t, _), s)| t == tenant && &s.object == object)
            .map(|((_, id), s)| (s.sf_id.clone(), id.clone(), s.record.clone()))
            .collect()
    }
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
    fn exists(&self, tenant: &TenantId, id: &CrmId) -> bool {
        self.records.contains_key(&(tenant.clone(), id.clone()))
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

    fn write_one(
        &mut self,
        tenant: &TenantId,
        object: &SObject,
        mode: WriteMode,
        sf_id: &SfId,
        rec: &CrmRecord,
    ) -> Result<WriteOutcome, RecordError> {
        self.check(tenant, object, sf_id, rec)?;
        let key = (tenant.clone(), object.clone(), sf_id.clone());
        // A price book entry is written onto its product.
        if let CrmRecord::ProductPrice(price) = rec {
            // Written before: in SkipExisting mode leave the product alone
            // and answer with the id the entry got the first time.
            if mode == WriteMode::SkipExisting
                && let Some(id) = self.keys.get(&key)
            {
                return Ok(WriteOutcome::new(id.clone(), WriteAction::AlreadyPresent));
            }
            let product = price.product.clone().expect("checked above");
            if let Some(CrmRecord::Product(p)) = self
                .records
                .get_mut(&(tenant.clone(), product.clone()))
                .map(|s| &mut s.record)
            {
                if price.price.is_some() {
                    p.price = price.price;
                    p.currency = price.currency.clone().or(p.currency.take());
                }
            } else {
                return Err(rejected(
                    object,
                    sf_id,
                    "Product2Id",
                    "refers to a record that is not a product",
                ));
            }
            let action = match self.keys.insert(key, product.clone()) {
                None => WriteAction::Created,
                Some(_) if mode == WriteMode::Update => WriteAction::Updated,
                Some(_) => WriteAction::AlreadyPresent,
            };
            return Ok(WriteOutcome::new(product, action));
        }
        if let Some(id) = self.keys.get(&key).cloned() {
            if mode == WriteMode::Update {
                let stored = self
                    .records
                    .get_mut(&(tenant.clone(), id.clone()))
                    .expect("every key has its record");
                stored.record = rec.clone();
                stored.deleted_at = None;
                return Ok(WriteOutcome::new(id, WriteAction::Updated));
            }
            return Ok(WriteOutcome::new(id, WriteAction::AlreadyPresent));
        }
        self.next_id += 1;
        let id = CrmId::new(self.next_id.to_string());
        self.keys.insert(key, id.clone());
        self.records.insert(
            (tenant.clone(), id.clone()),
            Stored {
                object: object.clone(),
                sf_id: sf_id.clone(),
                record: rec.clone(),
                deleted_at: None,
            },
        );
        Ok(WriteOutcome::new(id, WriteAction::Created))
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
                let key = (tenant.clone(), object.clone(), d.sf_id.clone());
                if state.keys.get(&key) != Some(&d.crm_id) {
                    return Err(rejected(object, &d.sf_id, "Id", "no such record"));
                }
                let stored = state
                    .records
                    .get_mut(&(tenant.clone(), d.crm_id.clone()))
                    .expect("every key has its record");
                if &stored.object == object {
                    stored.deleted_at.get_or_insert(d.deleted_at);
                } else if let CrmRecord::Product(p) = &mut stored.record {
                    // A price book entry lives on its product: deleting
                    // the entry takes the price away.
                    p.price = None;
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
                let stored = state
                    .records
                    .get_mut(&(tenant.clone(), l.crm_id.clone()))
                    .ok_or_else(|| rejected(object, &l.sf_id, "Id", "no such record"))?;
                if stored.record.set_link(&l.link, l.target.clone()) {
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
