//! Small builders for test data: Salesforce ids, CRM records ready to write,
//! batches, jobs, log entries and connections.
//!
//! The CRM record types are `#[non_exhaustive]`, so code outside this crate
//! cannot build them with struct literals; these builders fill in the
//! required fields (a name derived from the Salesforce id) and leave the
//! rest empty.
//!
//! ```
//! use salesforce_import::testkit::fixture;
//! use salesforce_import::{sink::WriteMode, SObject};
//!
//! let acc = fixture::sf_id(&SObject::ACCOUNT, 1);
//! assert_eq!(acc.key_prefix(), "001");
//! let batch = fixture::batch(SObject::ACCOUNT, WriteMode::SkipExisting, vec![fixture::account(&acc)]);
//! assert_eq!(batch.records.len(), 1);
//! ```

use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use secrecy::SecretString;

use crate::crm::{
    Account, Contact, CrmRecord, Opportunity, OpportunityStage, Order, OrderLine, OrderStatus,
    Product, ProductPrice, Quote, QuoteLine, QuoteStatus,
};
use crate::error::{Problem, RecordError};
use crate::id::{CrmId, SfId, TenantId};
use crate::jobs::LogEntry;
use crate::jobs::{IdMapping, NewJob, PageRecord};
use crate::object::SObject;
use crate::sink::{Relink, WriteBatch, WriteMode, WriteRecord};
use crate::vault::Connection;

/// The three-character key prefix Salesforce uses for a standard object
/// (`001` for Account); `a00` for any other object.
pub fn key_prefix(object: &SObject) -> &'static str {
    match object.as_str() {
        "Account" => "001",
        "Contact" => "003",
        "Opportunity" => "006",
        "Product2" => "01t",
        "PricebookEntry" => "01u",
        "Order" => "801",
        "OrderItem" => "802",
        "Quote" => "0Q0",
        "QuoteLineItem" => "0QL",
        _ => "a00",
    }
}

/// A valid Salesforce id for `object`: its key prefix, then `n` zero-padded
/// to twelve digits (so ids sort in `n` order).
///
/// ```
/// use salesforce_import::{testkit::fixture, SObject};
/// assert_eq!(fixture::sf_id(&SObject::CONTACT, 42).to_15(), "003000000000042");
/// ```
pub fn sf_id(object: &SObject, n: u64) -> SfId {
    let raw = format!("{}{:012}", key_prefix(object), n % 1_000_000_000_000);
    SfId::parse(&raw).expect("key prefix + 12 digits is a valid Salesforce id")
}

/// `n` consecutive Salesforce ids of `object`, starting at 1.
pub fn sf_ids(object: &SObject, n: u64) -> Vec<SfId> {
    (1..=n).map(|i| sf_id(object, i)).collect()
}

/// An account named after its Salesforce id.
pub fn account(sf_id: &SfId) -> WriteRecord {
    let account = Account {
        name: format!("Account {sf_id}"),
        ..Account::default()
    };
    WriteRecord::new(sf_id.clone(), CrmRecord::Account(account), None)
}

/// An account with a given name (to tell two versions apart in update tests).
pub fn account_named(sf_id: &SfId, name: impl Into<String>) -> WriteRecord {
    let account = Account {
        name: name.into(),
        ..Account::default()
    };
    WriteRecord::new(sf_id.clone(), CrmRecord::Account(account), None)
}

/// A contact, optionally at an account.
pub fn contact(sf_id: &SfId, account: Option<CrmId>) -> WriteRecord {
    let contact = Contact {
        last_name: format!("Contact {sf_id}"),
        account,
        ..Contact::default()
    };
    WriteRecord::new(sf_id.clone(), CrmRecord::Contact(contact), None)
}

/// An opportunity in `Prospecting`, optionally at an account.
pub fn opportunity(sf_id: &SfId, account: Option<CrmId>) -> WriteRecord {
    let opportunity = Opportunity {
        name: format!("Opportunity {sf_id}"),
        stage: OpportunityStage::Prospecting,
        amount: None,
        probability: None,
        closed_on: None,
        lead_source: None,
        opportunity_type: None,
        currency: None,
        description: None,
        account,
        contact: None,
        custom_fields: Default::default(),
    };
    WriteRecord::new(sf_id.clone(), CrmRecord::Opportunity(opportunity), None)
}

/// An active product without a price.
pub fn product(sf_id: &SfId) -> WriteRecord {
    let product = Product {
        name: format!("Product {sf_id}"),
        is_active: true,
        ..Product::default()
    };
    WriteRecord::new(sf_id.clone(), CrmRecord::Product(product), None)
}

/// A price book entry for `product` at `price` USD.
pub fn price(sf_id: &SfId, product: Option<CrmId>, price: Decimal) -> WriteRecord {
    let entry = ProductPrice {
        product,
        price: Some(price),
        currency: Some("USD".to_owned()),
        is_active: true,
    };
    WriteRecord::new(sf_id.clone(), CrmRecord::ProductPrice(entry), None)
}

/// A draft order; `account` is required by the CRM.
pub fn order(sf_id: &SfId, account: Option<CrmId>) -> WriteRecord {
    let order = Order {
        name: Some(format!("Order {sf_id}")),
        order_number: None,
        status: OrderStatus::Draft,
        order_date: None,
        activated_date: None,
        total_amount: None,
        currency: None,
        billing_address: Default::default(),
        shipping_address: Default::default(),
        description: None,
        account,
        contact: None,
        opportunity: None,
        custom_fields: Default::default(),
    };
    WriteRecord::new(sf_id.clone(), CrmRecord::Order(order), None)
}

/// One unit at 10 of `product`; `order` is required by the CRM.
pub fn order_line(sf_id: &SfId, order: Option<CrmId>, product: Option<CrmId>) -> WriteRecord {
    let line = OrderLine {
        order,
        product,
        name: None,
        quantity: Decimal::ONE,
        unit_price: Decimal::TEN,
        discount_amount: Decimal::ZERO,
        total: Decimal::TEN,
    };
    WriteRecord::new(sf_id.clone(), CrmRecord::OrderLine(line), None)
}

/// A draft quote, optionally at an account.
pub fn quote(sf_id: &SfId, account: Option<CrmId>) -> WriteRecord {
    let quote = Quote {
        title: format!("Quote {sf_id}"),
        quote_number: None,
        status: QuoteStatus::Draft,
        subtotal: None,
        discount: None,
        tax: None,
        total: None,
        currency: None,
        expiry_date: None,
        notes: None,
        account,
        contact: None,
        opportunity: None,
        custom_fields: Default::default(),
    };
    WriteRecord::new(sf_id.clone(), CrmRecord::Quote(quote), None)
}

/// One unit at 10 of `product`; `quote` is required by the CRM.
pub fn quote_line(sf_id: &SfId, quote: Option<CrmId>, product: Option<CrmId>) -> WriteRecord {
    let line = QuoteLine {
        quote,
        product,
        name: None,
        quantity: Decimal::ONE,
        unit_price: Decimal::TEN,
        discount: None,
        total: Decimal::TEN,
    };
    WriteRecord::new(sf_id.clone(), CrmRecord::QuoteLine(line), None)
}

/// A batch.
pub fn batch(object: SObject, mode: WriteMode, records: Vec<WriteRecord>) -> WriteBatch {
    WriteBatch::new(object, mode, records)
}

/// A relink of `crm_id` (Salesforce id `sf_id`) to `target` in slot `link`.
pub fn relink(crm_id: CrmId, sf_id: &SfId, link: crate::crm::Link, target: CrmId) -> Relink {
    Relink::new(crm_id, sf_id.clone(), link, target)
}

/// A fixed instant, `2024-01-01T00:00:00Z` plus `secs` seconds: increasing
/// `secs` gives increasing creation times for history tests.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

/// A new job for `tenant` over `objects`, started by `tester@example.com`,
/// in [`WriteMode::SkipExisting`], created at `created_at`.
pub fn new_job(tenant: &TenantId, objects: &[SObject], created_at: DateTime<Utc>) -> NewJob {
    NewJob::new(
        tenant.clone(),
        "tester@example.com",
        objects.to_vec(),
        WriteMode::SkipExisting,
        created_at,
    )
}

/// An error log entry for `object` / `sf_id`, field `field`, rejected with `reason`.
pub fn log_error(object: &SObject, sf_id: &SfId, field: &'static str, reason: &str) -> LogEntry {
    LogEntry::error(&RecordError::new(
        object.clone(),
        Some(sf_id.clone()),
        field,
        Problem::Rejected {
            reason: reason.into(),
        },
    ))
}

/// A page of `imported` records with these mappings (no stamps) and
/// checkpoint.
pub fn page(imported: u64, mappings: Vec<(SfId, CrmId)>, checkpoint: Option<SfId>) -> PageRecord {
    PageRecord {
        imported,
        mappings: mappings
            .into_iter()
            .map(|(sf, crm)| (sf, IdMapping::new(crm, None)))
            .collect(),
        checkpoint,
        ..PageRecord::default()
    }
}

/// An id mapping of a live record with no stamp: what [`page`] records.
pub fn mapping(crm_id: &str) -> IdMapping {
    IdMapping::new(CrmId::new(crm_id), None)
}

/// An active connection to `instance_url` with these tokens, connected by
/// `connected_by` at [`at(0)`](at).
pub fn connection(
    instance_url: &str,
    access_token: &str,
    refresh_token: Option<&str>,
    connected_by: &str,
) -> Connection {
    Connection::new(
        instance_url,
        SecretString::from(access_token.to_owned()),
        refresh_token.map(|t| SecretString::from(t.to_owned())),
        connected_by,
        at(0),
    )
}
