//! Changing a file-backed org while it is served: update, insert, delete
//! (to the recycle bin, with Salesforce's cascade), undelete, and the
//! logical clock their stamps come from.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};

use super::org::{Data, FakeOrg};
use super::schema::ObjectSchema;
use super::store::{self, Records, format_stamp, is_deleted, set_field};
use salesforce_import::{Error, Result, SObject, SfId, SfRecord};

/// Deleting a record of the first object deletes the records of the
/// second whose reference field (third) names it, as Salesforce does.
const CASCADE: [(&str, &str, &str); 8] = [
    ("Account", "Contact", "AccountId"),
    ("Account", "Opportunity", "AccountId"),
    ("Account", "Order", "AccountId"),
    ("Opportunity", "Quote", "OpportunityId"),
    ("Quote", "QuoteLineItem", "QuoteId"),
    ("Order", "OrderItem", "OrderId"),
    ("Product2", "PricebookEntry", "Product2Id"),
    ("Pricebook2", "PricebookEntry", "Pricebook2Id"),
];

/// The fields the org sets itself.
const SYSTEM_FIELDS: [&str; 5] = [
    "Id",
    "IsDeleted",
    "CreatedDate",
    "LastModifiedDate",
    "SystemModstamp",
];

/// A field to set: its canonical name, its value, and the relationship
/// whose nested copy in the data goes stale when it changes.
type Change = (String, Value, Option<String>);

impl FakeOrg {
    /// The org's logical clock: the time mutations stamp records with. It
    /// moves only by [`set_now`](FakeOrg::set_now) and
    /// [`advance`](FakeOrg::advance), never by itself, so that many
    /// changes can share one stamp.
    ///
    /// It starts one second after the greatest `SystemModstamp` in the
    /// data (2026-01-01T00:00:00Z for an org without records).
    ///
    /// ```
    /// use salesforce_import_fake::FakeOrg;
    ///
    /// let org = FakeOrg::sample(); // its records are stamped 2025-01-01T00:00:00Z
    /// assert_eq!(org.now().to_rfc3339(), "2025-01-01T00:00:01+00:00");
    /// ```
    pub fn now(&self) -> DateTime<Utc> {
        *self.clock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the clock. Stamps are written to the millisecond; Salesforce's
    /// are whole seconds.
    ///
    /// ```
    /// use salesforce_import_fake::FakeOrg;
    ///
    /// let org = FakeOrg::sample();
    /// let at = "2026-03-01T12:00:00Z".parse()?;
    /// org.set_now(at);
    /// assert_eq!(org.now(), at);
    /// # Ok::<(), chrono::ParseError>(())
    /// ```
    pub fn set_now(&self, at: DateTime<Utc>) {
        *self.clock.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    /// Moves the clock forward.
    ///
    /// # Panics
    ///
    /// When the clock would leave chrono's range (some 262 000 years).
    ///
    /// ```
    /// use std::time::Duration;
    /// use salesforce_import_fake::FakeOrg;
    ///
    /// let org = FakeOrg::sample();
    /// let before = org.now();
    /// org.advance(Duration::from_secs(60));
    /// assert_eq!((org.now() - before).num_seconds(), 60);
    /// ```
    pub fn advance(&self, by: std::time::Duration) {
        let mut clock = self.clock.lock().unwrap_or_else(|e| e.into_inner());
        *clock = TimeDelta::from_std(by)
            .ok()
            .and_then(|by| clock.checked_add_signed(by))
            .expect("the fake org's clock stays within chrono's range");
    }

    /// Sets fields of a record (raw JSON values; `null` clears), and its
    /// `LastModifiedDate` and `SystemModstamp` to [`now`](FakeOrg::now).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a generated org, an object the org does not
    /// have, a record it does not have or that is in the recycle bin, a
    /// field the object does not have, or a system field (`Id`,
    /// `IsDeleted`, `CreatedDate`, `LastModifiedDate`, `SystemModstamp`).
    ///
    /// ```
    /// use salesforce_import::SObject;
    /// use salesforce_import_fake::FakeOrg;
    ///
    /// let org = FakeOrg::sample();
    /// let id = org.records(&SObject::ACCOUNT, 1)[0].id()?;
    /// let fields = serde_json::json!({"Name": "Renamed", "Phone": null});
    /// org.update(&SObject::ACCOUNT, &id, fields.as_object().unwrap().clone())?;
    /// let account = &org.records(&SObject::ACCOUNT, 1)[0];
    /// assert_eq!(account.text("Name")?.as_deref(), Some("Renamed"));
    /// assert_eq!(account.datetime("SystemModstamp")?, Some(org.now()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn update(&self, object: &SObject, id: &SfId, fields: Map<String, Value>) -> Result<()> {
        let schema = self.changeable(object)?;
        let changes = changes(schema, fields)?;
        let now = Value::String(format_stamp(self.now()));
        let mut records = self.write().ok_or_else(generated)?;
        let record = live_record(&mut records, schema, id)?;
        apply(record, changes);
        set_field(record, "LastModifiedDate", now.clone());
        set_field(record, "SystemModstamp", now);
        Ok(())
    }

    /// Adds a record and returns its id: a valid 18-character id of the
    /// object's key prefix that sorts after every id the object has.
    /// `CreatedDate`, `LastModifiedDate` and `SystemModstamp` are
    /// [`now`](FakeOrg::now), `IsDeleted` false; fields not given are null.
    ///
    /// # Errors
    ///
    /// As [`update`](FakeOrg::update) (but for the record).
    ///
    /// ```
    /// use salesforce_import::SObject;
    /// use salesforce_import_fake::FakeOrg;
    ///
    /// let org = FakeOrg::sample();
    /// let before = org.count(&SObject::CONTACT);
    /// let fields = serde_json::json!({"LastName": "Hopper"});
    /// let id = org.insert(&SObject::CONTACT, fields.as_object().unwrap().clone())?;
    /// assert_eq!(id.key_prefix(), "003");
    /// assert_eq!(org.count(&SObject::CONTACT), before + 1);
    /// let last = org.records(&SObject::CONTACT, usize::MAX).pop().unwrap();
    /// assert_eq!(last.id()?, id);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert(&self, object: &SObject, fields: Map<String, Value>) -> Result<SfId> {
        let schema = self.changeable(object)?;
        let changes = changes(schema, fields)?;
        let now = Value::String(format_stamp(self.now()));
        let mut records = self.write().ok_or_else(generated)?;
        let name = SObject::new(&schema.name);
        let records = records.sorted_entry(&name);
        let id = store::next_id(records, &schema.key_prefix).ok_or_else(|| {
            Error::config(format!("the fake org has no {} id left to give", name))
        })?;
        let mut record = SfRecord::new(name);
        record.set("Id", id.as_str());
        apply(&mut record, changes);
        for field in ["CreatedDate", "LastModifiedDate", "SystemModstamp"] {
            set_field(&mut record, field, now.clone());
        }
        set_field(&mut record, "IsDeleted", Value::Bool(false));
        records.push((id.as_str().to_owned(), record));
        Ok(id)
    }

    /// Moves a record to the recycle bin (`IsDeleted` true, `SystemModstamp`
    /// [`now`](FakeOrg::now), its other values kept), with what Salesforce
    /// deletes along with it: an Account's Contacts, Opportunities and
    /// Orders, an Opportunity's Quotes, a Quote's QuoteLineItems, an Order's
    /// OrderItems, a Product2's or Pricebook2's PricebookEntry rows, down
    /// the chain. Every reference to a deleted record from a record that
    /// stays (`Account.ParentId`, `Quote.ContactId`, ...) is cleared, and
    /// that record's `SystemModstamp` (not its `LastModifiedDate`) set to
    /// now.
    ///
    /// Returns every record deleted: this one first, then the cascade.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a generated org, an object the org does not
    /// have, a record it does not have or that is in the recycle bin already.
    ///
    /// ```
    /// use salesforce_import::SObject;
    /// use salesforce_import_fake::FakeOrg;
    ///
    /// let org = FakeOrg::sample();
    /// let opportunity = org.records(&SObject::OPPORTUNITY, 1)[0].id()?;
    /// let deleted = org.delete(&SObject::OPPORTUNITY, &opportunity)?;
    /// assert_eq!(deleted[0], (SObject::OPPORTUNITY, opportunity.clone()));
    /// assert!(deleted[1..].iter().all(|(o, _)| *o == SObject::QUOTE || *o == SObject::QUOTE_LINE_ITEM));
    /// assert!(org.delete(&SObject::OPPORTUNITY, &opportunity).is_err(), "already deleted");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete(&self, object: &SObject, id: &SfId) -> Result<Vec<(SObject, SfId)>> {
        let schema = self.changeable(object)?;
        let now = Value::String(format_stamp(self.now()));
        let mut records = self.write().ok_or_else(generated)?;
        let record = live_record(&mut records, schema, id)?;
        let bin = |record: &mut SfRecord| {
            set_field(record, "IsDeleted", Value::Bool(true));
            set_field(record, "SystemModstamp", now.clone());
        };
        bin(record);
        let mut deleted = vec![(SObject::new(&schema.name), id.clone())];
        let mut next = 0;
        while let Some((parent, parent_id)) = deleted.get(next).cloned() {
            next += 1;
            for (_, child, field) in CASCADE.iter().filter(|c| c.0 == parent.as_str()) {
                let Some(child) = self.schema(child) else {
                    continue;
                };
                let child = SObject::new(&child.name);
                let Some(children) = records.sorted_mut(&child) else {
                    continue;
                };
                for (key, record) in children.iter_mut() {
                    if !is_deleted(record) && refers(record, field, &parent_id) {
                        bin(record);
                        let key = SfId::parse(key).expect("record keys are valid ids");
                        deleted.push((child.clone(), key));
                    }
                }
            }
        }
        let mut gone: HashMap<&str, HashSet<&str>> = HashMap::new();
        for (object, id) in &deleted {
            gone.entry(object.as_str()).or_default().insert(id.as_str());
        }
        for schema in self.schemas.values() {
            let references: Vec<(&str, Option<&str>, &HashSet<&str>)> = schema
                .fields
                .iter()
                .filter_map(|f| {
                    let ids = gone.get(f.reference_to.as_deref()?)?;
                    Some((f.name.as_str(), f.relationship_name(), ids))
                })
                .collect();
            if references.is_empty() {
                continue;
            }
            let Some(rows) = records.sorted_mut(&SObject::new(&schema.name)) else {
                continue;
            };
            for (_, record) in rows.iter_mut().filter(|(_, r)| !is_deleted(r)) {
                let mut changed = false;
                for (field, relationship, ids) in &references {
                    let target = record.sf_id(field).ok().flatten();
                    if target.is_some_and(|t| ids.contains(t.as_str())) {
                        set_field(record, field, Value::Null);
                        relationship.inspect(|r| remove_field(record, r));
                        changed = true;
                    }
                }
                if changed {
                    set_field(record, "SystemModstamp", now.clone());
                }
            }
        }
        Ok(deleted)
    }

    /// Takes one record out of the recycle bin (`IsDeleted` false,
    /// `SystemModstamp` [`now`](FakeOrg::now)); what its delete cascaded to
    /// and the references it cleared stay as they are.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a generated org, an object the org does not
    /// have, a record it does not have or that is not in the recycle bin.
    ///
    /// ```
    /// use salesforce_import::SObject;
    /// use salesforce_import_fake::FakeOrg;
    ///
    /// let org = FakeOrg::sample();
    /// let before = org.count(&SObject::CONTACT);
    /// let id = org.records(&SObject::CONTACT, 1)[0].id()?;
    /// org.delete(&SObject::CONTACT, &id)?;
    /// assert_eq!(org.count(&SObject::CONTACT), before - 1);
    /// org.undelete(&SObject::CONTACT, &id)?;
    /// assert_eq!(org.count(&SObject::CONTACT), before);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn undelete(&self, object: &SObject, id: &SfId) -> Result<()> {
        let schema = self.changeable(object)?;
        let now = Value::String(format_stamp(self.now()));
        let mut records = self.write().ok_or_else(generated)?;
        let record = find(&mut records, schema, id)?;
        if !is_deleted(record) {
            return Err(Error::config(format!(
                "{} {id} is not in the recycle bin",
                schema.name
            )));
        }
        set_field(record, "IsDeleted", Value::Bool(false));
        set_field(record, "SystemModstamp", now);
        Ok(())
    }

    /// The schema of an object of a file-backed org.
    fn changeable(&self, object: &SObject) -> Result<&ObjectSchema> {
        if !matches!(self.data, Data::Files(_)) {
            return Err(generated());
        }
        self.schema(object.as_str())
            .ok_or_else(|| Error::config(format!("the fake org has no object {object}")))
    }
}

fn generated() -> Error {
    Error::config(
        "a generated org cannot be changed: use FakeOrg::generated_materialized for one that can",
    )
}

/// The fields to set, checked against the object.
fn changes(schema: &ObjectSchema, fields: Map<String, Value>) -> Result<Vec<Change>> {
    fields
        .into_iter()
        .map(|(name, value)| {
            let def = schema
                .field(&name)
                .ok_or_else(|| Error::config(format!("{} has no field {name}", schema.name)))?;
            if SYSTEM_FIELDS.contains(&def.name.as_str()) {
                return Err(Error::config(format!(
                    "{}.{} is set by the org (use set_now or advance to choose the time)",
                    schema.name, def.name
                )));
            }
            let relationship = def.relationship_name().map(str::to_owned);
            Ok((def.name.clone(), value, relationship))
        })
        .collect()
}

fn apply(record: &mut SfRecord, changes: Vec<Change>) {
    for (name, value, relationship) in changes {
        set_field(record, &name, value);
        // A nested parent the data carried names the old parent.
        if let Some(r) = relationship {
            remove_field(record, &r);
        }
    }
}

/// Removes a top-level field in any spelling of its name.
fn remove_field(record: &mut SfRecord, name: &str) {
    let keys: Vec<String> = record
        .field_names()
        .filter(|k| k.eq_ignore_ascii_case(name))
        .map(str::to_owned)
        .collect();
    for key in keys {
        record.remove(&key);
    }
}

/// Whether a record's reference field names this id.
fn refers(record: &SfRecord, field: &str, id: &SfId) -> bool {
    record.sf_id(field).ok().flatten().as_ref() == Some(id)
}

fn find<'a>(
    records: &'a mut Records,
    schema: &ObjectSchema,
    id: &SfId,
) -> Result<&'a mut SfRecord> {
    let object = SObject::new(&schema.name);
    let missing = || Error::config(format!("the fake org has no {} {id}", schema.name));
    let at = records.position(&object, id.as_str()).ok_or_else(missing)?;
    let rows = records.sorted_mut(&object).ok_or_else(missing)?;
    Ok(&mut rows[at].1)
}

fn live_record<'a>(
    records: &'a mut Records,
    schema: &ObjectSchema,
    id: &SfId,
) -> Result<&'a mut SfRecord> {
    let name = schema.name.clone();
    let record = find(records, schema, id)?;
    if is_deleted(record) {
        return Err(Error::config(format!(
            "{name} {id} is in the recycle bin (undelete it first)"
        )));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(org: &FakeOrg, object: &SObject) -> SfId {
        org.records(object, 1)[0].id().unwrap()
    }

    fn live_references(org: &FakeOrg, object: &SObject, field: &str) -> usize {
        org.records(object, usize::MAX)
            .iter()
            .filter(|r| r.sf_id(field).unwrap().is_some())
            .count()
    }

    #[test]
    fn products_and_price_books_take_their_entries() {
        let org = FakeOrg::generated_materialized(2, 100);
        assert_eq!(org.count(&SObject::PRODUCT2), 1);
        assert!(live_references(&org, &SObject::ORDER_ITEM, "Product2Id") > 0);
        let product = first(&org, &SObject::PRODUCT2);
        let entry = first(&org, &SObject::PRICEBOOK_ENTRY);
        let deleted = org.delete(&SObject::PRODUCT2, &product).unwrap();
        assert_eq!(
            deleted,
            [
                (SObject::PRODUCT2, product),
                (SObject::PRICEBOOK_ENTRY, entry)
            ]
        );
        for object in [SObject::ORDER_ITEM, SObject::QUOTE_LINE_ITEM] {
            assert_eq!(live_references(&org, &object, "Product2Id"), 0, "{object}");
            assert_eq!(live_references(&org, &object, "PricebookEntryId"), 0);
        }

        let org = FakeOrg::generated_materialized(2, 100);
        let book = SObject::new("Pricebook2");
        let deleted = org.delete(&book, &first(&org, &book)).unwrap();
        assert_eq!(deleted.len(), 2, "the book and its one entry");
        for object in [SObject::OPPORTUNITY, SObject::ORDER, SObject::QUOTE] {
            assert_eq!(
                live_references(&org, &object, "Pricebook2Id"),
                0,
                "{object}"
            );
        }
        assert_eq!(org.count(&SObject::ORDER), 25, "orders stay");
    }

    #[test]
    fn the_clock_moves_only_when_told() {
        let org = FakeOrg::from_source(salesforce_import::FileSource::new());
        assert_eq!(org.now(), store::empty_org_time());
        let id = org
            .insert(
                &SObject::ACCOUNT,
                Map::from_iter([("Name".into(), "A".into())]),
            )
            .unwrap();
        let id2 = org.insert(&SObject::ACCOUNT, Map::new()).unwrap();
        assert_eq!(id.as_str(), "001000000000001AAA");
        assert!(id2 > id);
        assert_eq!(org.now(), store::empty_org_time(), "mutations leave it");
        org.advance(std::time::Duration::from_millis(1500));
        assert_eq!(format_stamp(org.now()), "2026-01-01T00:00:01.500+0000");
    }
}
