//! The CRM rows of the reference tables, as text for `COPY` (the
//! database's floor and the seed-style baseline).

use std::collections::{HashMap, HashSet};

use salesforce_import::crm::{Address, CrmRecord};
use salesforce_import::mapping::{Mapped, Requirement};
use salesforce_import::{CrmId, SfId};

/// One reference CRM table: name and columns (after `tenant_id`, `sf_id`)
/// with their types, as in `migrations/crm`.
pub(crate) struct Table {
    pub(crate) name: &'static str,
    pub(crate) columns: &'static [(&'static str, &'static str)],
    /// The id the id map records (a price's is its product's).
    pub(crate) mapped_id: &'static str,
}

macro_rules! table {
    ($name:literal, $mapped:literal, [$(($c:literal, $t:literal)),* $(,)?]) => {
        Table { name: $name, mapped_id: $mapped, columns: &[$(($c, $t)),*] }
    };
}

pub(crate) const ACCOUNTS: Table = table!(
    "crm_accounts",
    "id",
    [
        ("name", "text"),
        ("email", "text"),
        ("phone", "text"),
        ("website", "text"),
        ("industry", "text"),
        ("account_type", "text"),
        ("number_of_employees", "int8"),
        ("annual_revenue", "numeric"),
        ("currency", "text"),
        ("billing_street", "text"),
        ("billing_city", "text"),
        ("billing_state", "text"),
        ("billing_postcode", "text"),
        ("billing_country", "text"),
        ("description", "text"),
        ("parent_id", "uuid"),
        ("custom_fields", "jsonb"),
    ]
);
pub(crate) const CONTACTS: Table = table!(
    "crm_contacts",
    "id",
    [
        ("first_name", "text"),
        ("last_name", "text"),
        ("email", "text"),
        ("phone", "text"),
        ("title", "text"),
        ("department", "text"),
        ("do_not_call", "bool"),
        ("mailing_street", "text"),
        ("mailing_city", "text"),
        ("mailing_state", "text"),
        ("mailing_postcode", "text"),
        ("mailing_country", "text"),
        ("description", "text"),
        ("account_id", "uuid"),
        ("custom_fields", "jsonb"),
    ]
);
pub(crate) const OPPORTUNITIES: Table = table!(
    "crm_opportunities",
    "id",
    [
        ("name", "text"),
        ("stage", "text"),
        ("amount", "numeric"),
        ("probability", "numeric"),
        ("closed_on", "date"),
        ("lead_source", "text"),
        ("opportunity_type", "text"),
        ("currency", "text"),
        ("description", "text"),
        ("account_id", "uuid"),
        ("contact_id", "uuid"),
        ("custom_fields", "jsonb"),
    ]
);
pub(crate) const PRODUCTS: Table = table!(
    "crm_products",
    "id",
    [
        ("name", "text"),
        ("sku", "text"),
        ("description", "text"),
        ("is_active", "bool"),
        ("family", "text"),
        ("price", "numeric"),
        ("currency", "text"),
        ("custom_fields", "jsonb"),
    ]
);
pub(crate) const PRICES: Table = table!(
    "crm_product_prices",
    "product_id",
    [
        ("product_id", "uuid"),
        ("price", "numeric"),
        ("currency", "text"),
        ("is_active", "bool"),
    ]
);
pub(crate) const ORDERS: Table = table!(
    "crm_orders",
    "id",
    [
        ("name", "text"),
        ("order_number", "text"),
        ("status", "text"),
        ("order_date", "date"),
        ("activated_at", "timestamptz"),
        ("total_amount", "numeric"),
        ("currency", "text"),
        ("billing_street", "text"),
        ("billing_city", "text"),
        ("billing_state", "text"),
        ("billing_postcode", "text"),
        ("billing_country", "text"),
        ("shipping_street", "text"),
        ("shipping_city", "text"),
        ("shipping_state", "text"),
        ("shipping_postcode", "text"),
        ("shipping_country", "text"),
        ("description", "text"),
        ("account_id", "uuid"),
        ("contact_id", "uuid"),
        ("opportunity_id", "uuid"),
        ("custom_fields", "jsonb"),
    ]
);
pub(crate) const ORDER_LINES: Table = table!(
    "crm_order_lines",
    "id",
    [
        ("order_id", "uuid"),
        ("product_id", "uuid"),
        ("name", "text"),
        ("quantity", "numeric"),
        ("unit_price", "numeric"),
        ("discount_amount", "numeric"),
        ("total", "numeric"),
    ]
);
pub(crate) const QUOTES: Table = table!(
    "crm_quotes",
    "id",
    [
        ("title", "text"),
        ("quote_number", "text"),
        ("status", "text"),
        ("subtotal", "numeric"),
        ("discount", "numeric"),
        ("tax", "numeric"),
        ("total", "numeric"),
        ("currency", "text"),
        ("expiry_date", "date"),
        ("notes", "text"),
        ("account_id", "uuid"),
        ("contact_id", "uuid"),
        ("opportunity_id", "uuid"),
        ("custom_fields", "jsonb"),
    ]
);
pub(crate) const QUOTE_LINES: Table = table!(
    "crm_quote_lines",
    "id",
    [
        ("quote_id", "uuid"),
        ("product_id", "uuid"),
        ("name", "text"),
        ("quantity", "numeric"),
        ("unit_price", "numeric"),
        ("discount", "numeric"),
        ("total", "numeric"),
    ]
);

pub(crate) type Values = Vec<Option<String>>;

/// The record's table and its column values as text, in column order.
pub(crate) fn row(record: &CrmRecord) -> Option<(&'static Table, Values)> {
    fn s(v: &Option<String>) -> Option<String> {
        v.clone()
    }
    fn d<T: ToString>(v: &Option<T>) -> Option<String> {
        v.as_ref().map(ToString::to_string)
    }
    fn id(v: &Option<CrmId>) -> Option<String> {
        v.as_ref().map(|i| i.as_str().to_owned())
    }
    fn json(v: &salesforce_import::crm::CustomFields) -> Option<String> {
        serde_json::to_string(v).ok()
    }
    fn addr(a: &Address) -> [Option<String>; 5] {
        [
            s(&a.line),
            s(&a.city),
            s(&a.state),
            s(&a.postcode),
            s(&a.country),
        ]
    }
    let b = |v: bool| Some(if v { "t" } else { "f" }.to_owned());
    Some(match record {
        CrmRecord::Account(a) => {
            let mut v = vec![
                Some(a.name.clone()),
                s(&a.email),
                s(&a.phone),
                s(&a.website),
                s(&a.industry),
                s(&a.account_type),
                d(&a.number_of_employees),
                d(&a.annual_revenue),
                s(&a.currency),
            ];
            v.extend(addr(&a.address));
            v.extend([s(&a.description), id(&a.parent), json(&a.custom_fields)]);
            (&ACCOUNTS, v)
        }
        CrmRecord::Contact(c) => {
            let mut v = vec![
                s(&c.first_name),
                Some(c.last_name.clone()),
                s(&c.email),
                s(&c.phone),
                s(&c.title),
                s(&c.department),
                b(c.do_not_call),
            ];
            v.extend(addr(&c.address));
            v.extend([s(&c.description), id(&c.account), json(&c.custom_fields)]);
            (&CONTACTS, v)
        }
        CrmRecord::Opportunity(o) => (
            &OPPORTUNITIES,
            vec![
                Some(o.name.clone()),
                Some(o.stage.code().to_owned()),
                d(&o.amount),
                d(&o.probability),
                d(&o.closed_on),
                s(&o.lead_source),
                s(&o.opportunity_type),
                s(&o.currency),
                s(&o.description),
                id(&o.account),
                id(&o.contact),
                json(&o.custom_fields),
            ],
        ),
        CrmRecord::Product(p) => (
            &PRODUCTS,
            vec![
                Some(p.name.clone()),
                s(&p.sku),
                s(&p.description),
                b(p.is_active),
                s(&p.family),
                d(&p.price),
                s(&p.currency),
                json(&p.custom_fields),
            ],
        ),
        CrmRecord::ProductPrice(p) => (
            &PRICES,
            vec![id(&p.product), d(&p.price), s(&p.currency), b(p.is_active)],
        ),
        CrmRecord::Order(o) => {
            let mut v = vec![
                s(&o.name),
                s(&o.order_number),
                Some(o.status.code().to_owned()),
                d(&o.order_date),
                o.activated_date.map(|t| t.to_rfc3339()),
                d(&o.total_amount),
                s(&o.currency),
            ];
            v.extend(addr(&o.billing_address));
            v.extend(addr(&o.shipping_address));
            v.extend([
                s(&o.description),
                id(&o.account),
                id(&o.contact),
                id(&o.opportunity),
                json(&o.custom_fields),
            ]);
            (&ORDERS, v)
        }
        CrmRecord::OrderLine(l) => (
            &ORDER_LINES,
            vec![
                id(&l.order),
                id(&l.product),
                s(&l.name),
                Some(l.quantity.to_string()),
                Some(l.unit_price.to_string()),
                Some(l.discount_amount.to_string()),
                Some(l.total.to_string()),
            ],
        ),
        CrmRecord::Quote(q) => (
            &QUOTES,
            vec![
                Some(q.title.clone()),
                s(&q.quote_number),
                Some(q.status.code().to_owned()),
                d(&q.subtotal),
                d(&q.discount),
                d(&q.tax),
                d(&q.total),
                s(&q.currency),
                d(&q.expiry_date),
                s(&q.notes),
                id(&q.account),
                id(&q.contact),
                id(&q.opportunity),
                json(&q.custom_fields),
            ],
        ),
        CrmRecord::QuoteLine(l) => (
            &QUOTE_LINES,
            vec![
                id(&l.quote),
                id(&l.product),
                s(&l.name),
                Some(l.quantity.to_string()),
                Some(l.unit_price.to_string()),
                d(&l.discount),
                Some(l.total.to_string()),
            ],
        ),
        _ => return None,
    })
}

/// Account names are unique per tenant, ignoring case: a taken name gets
/// the Salesforce id, as `PgCrmSink` does.
pub(crate) fn dedupe_account_name(
    record: &mut CrmRecord,
    sf_id: &SfId,
    names: &mut HashSet<String>,
) {
    if let CrmRecord::Account(a) = record
        && !names.insert(a.name.to_lowercase())
    {
        a.name = format!("{} ({})", a.name, &sf_id.as_str()[..15]);
        names.insert(a.name.to_lowercase());
    }
}

/// Fills the record's references from `known`; false when a required one
/// is missing.
pub(crate) fn resolve(mapped: &mut Mapped, known: &HashMap<SfId, String>) -> bool {
    for lookup in &mapped.lookups {
        match known.get(&lookup.sf_id) {
            Some(crm) => {
                mapped
                    .record
                    .set_link(&lookup.spec.link, CrmId::new(crm.clone()));
            }
            None if lookup.spec.requirement == Requirement::Required => return false,
            None => {}
        }
    }
    true
}

pub(crate) fn copy_text(out: &mut Vec<u8>, values: impl IntoIterator<Item = Option<String>>) {
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        match v {
            None => out.extend_from_slice(b"\\N"),
            Some(v) => {
                for byte in v.bytes() {
                    match byte {
                        b'\\' => out.extend_from_slice(b"\\\\"),
                        b'\t' => out.extend_from_slice(b"\\t"),
                        b'\n' => out.extend_from_slice(b"\\n"),
                        b'\r' => out.extend_from_slice(b"\\r"),
                        other => out.push(other),
                    }
                }
            }
        }
    }
    out.push(b'\n');
}
