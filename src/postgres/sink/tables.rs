//! The reference CRM tables: columns, the Salesforce field each comes from,
//! and the one `INSERT ... SELECT FROM UNNEST` statement per table and page.

use sqlx::Postgres;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::types::Uuid;

use crate::crm::WriteMode;
use crate::crm::{Address, CrmRecord, Link};
use crate::id::CrmId;

/// A column after `tenant_id` and `sf_id`: its name, its element type (for
/// the `UNNEST` cast) and the Salesforce field it comes from (named in
/// record errors).
#[derive(Clone, Copy)]
pub(super) struct Col {
    pub name: &'static str,
    pub ty: &'static str,
    pub field: &'static str,
}

const fn col(name: &'static str, ty: &'static str, field: &'static str) -> Col {
    Col { name, ty, field }
}

/// One table of the reference schema, chosen by the record's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Kind {
    Account,
    Contact,
    Opportunity,
    Product,
    ProductPrice,
    Order,
    OrderLine,
    Quote,
    QuoteLine,
}

macro_rules! address {
    ($prefix:literal, $sf:literal) => {
        [
            col(concat!($prefix, "_street"), "text", concat!($sf, "Street")),
            col(concat!($prefix, "_city"), "text", concat!($sf, "City")),
            col(concat!($prefix, "_state"), "text", concat!($sf, "State")),
            col(
                concat!($prefix, "_postcode"),
                "text",
                concat!($sf, "PostalCode"),
            ),
            col(
                concat!($prefix, "_country"),
                "text",
                concat!($sf, "Country"),
            ),
        ]
    };
}

const BILLING: [Col; 5] = address!("billing", "Billing");
const SHIPPING: [Col; 5] = address!("shipping", "Shipping");
const MAILING: [Col; 5] = address!("mailing", "Mailing");

const ACCOUNT: &[Col] = &[
    col("name", "text", "Name"),
    col("email", "text", "Email"),
    col("phone", "text", "Phone"),
    col("website", "text", "Website"),
    col("industry", "text", "Industry"),
    col("account_type", "text", "Type"),
    col("number_of_employees", "int8", "NumberOfEmployees"),
    col("annual_revenue", "numeric", "AnnualRevenue"),
    col("currency", "text", "CurrencyIsoCode"),
    BILLING[0],
    BILLING[1],
    BILLING[2],
    BILLING[3],
    BILLING[4],
    col("description", "text", "Description"),
    col("parent_id", "uuid", "ParentId"),
    col("custom_fields", "jsonb", "custom fields"),
];

const CONTACT: &[Col] = &[
    col("first_name", "text", "FirstName"),
    col("last_name", "text", "LastName"),
    col("email", "text", "Email"),
    col("phone", "text", "Phone"),
    col("title", "text", "Title"),
    col("department", "text", "Department"),
    col("do_not_call", "bool", "DoNotCall"),
    MAILING[0],
    MAILING[1],
    MAILING[2],
    MAILING[3],
    MAILING[4],
    col("description", "text", "Description"),
    col("account_id", "uuid", "AccountId"),
    col("custom_fields", "jsonb", "custom fields"),
];

const OPPORTUNITY: &[Col] = &[
    col("name", "text", "Name"),
    col("stage", "text", "StageName"),
    col("amount", "numeric", "Amount"),
    col("probability", "numeric", "Probability"),
    col("closed_on", "date", "CloseDate"),
    col("lead_source", "text", "LeadSource"),
    col("opportunity_type", "text", "Type"),
    col("currency", "text", "CurrencyIsoCode"),
    col("description", "text", "Description"),
    col("account_id", "uuid", "AccountId"),
    col("contact_id", "uuid", "ContactId"),
    col("custom_fields", "jsonb", "custom fields"),
];

const PRODUCT: &[Col] = &[
    col("name", "text", "Name"),
    col("sku", "text", "ProductCode"),
    col("description", "text", "Description"),
    col("is_active", "bool", "IsActive"),
    col("family", "text", "Family"),
    col("price", "numeric", "UnitPrice"),
    col("currency", "text", "CurrencyIsoCode"),
    col("custom_fields", "jsonb", "custom fields"),
];

const PRODUCT_PRICE: &[Col] = &[
    col("product_id", "uuid", "Product2Id"),
    col("price", "numeric", "UnitPrice"),
    col("currency", "text", "CurrencyIsoCode"),
    col("is_active", "bool", "IsActive"),
];

const ORDER: &[Col] = &[
    col("name", "text", "Name"),
    col("order_number", "text", "OrderNumber"),
    col("status", "text", "Status"),
    col("order_date", "date", "EffectiveDate"),
    col("activated_at", "timestamptz", "ActivatedDate"),
    col("total_amount", "numeric", "TotalAmount"),
    col("currency", "text", "CurrencyIsoCode"),
    BILLING[0],
    BILLING[1],
    BILLING[2],
    BILLING[3],
    BILLING[4],
    SHIPPING[0],
    SHIPPING[1],
    SHIPPING[2],
    SHIPPING[3],
    SHIPPING[4],
    col("description", "text", "Description"),
    col("account_id", "uuid", "AccountId"),
    col("contact_id", "uuid", "BillToContactId"),
    col("opportunity_id", "uuid", "OpportunityId"),
    col("custom_fields", "jsonb", "custom fields"),
];

const ORDER_LINE: &[Col] = &[
    col("order_id", "uuid", "OrderId"),
    col("product_id", "uuid", "Product2Id"),
    col("name", "text", "Description"),
    col("quantity", "numeric", "Quantity"),
    col("unit_price", "numeric", "UnitPrice"),
    col("discount_amount", "numeric", "ListPrice"),
    col("total", "numeric", "TotalPrice"),
];

const QUOTE: &[Col] = &[
    col("title", "text", "Name"),
    col("quote_number", "text", "QuoteNumber"),
    col("status", "text", "Status"),
    col("subtotal", "numeric", "Subtotal"),
    col("discount", "numeric", "Discount"),
    col("tax", "numeric", "Tax"),
    col("total", "numeric", "GrandTotal"),
    col("currency", "text", "CurrencyIsoCode"),
    col("expiry_date", "date", "ExpirationDate"),
    col("notes", "text", "Description"),
    col("account_id", "uuid", "AccountId"),
    col("contact_id", "uuid", "ContactId"),
    col("opportunity_id", "uuid", "OpportunityId"),
    col("custom_fields", "jsonb", "custom fields"),
];

const QUOTE_LINE: &[Col] = &[
    col("quote_id", "uuid", "QuoteId"),
    col("product_id", "uuid", "Product2Id"),
    col("name", "text", "Description"),
    col("quantity", "numeric", "Quantity"),
    col("unit_price", "numeric", "UnitPrice"),
    col("discount", "numeric", "Discount"),
    col("total", "numeric", "TotalPrice"),
];

impl Kind {
    /// The table a record goes to; `None` for a host's custom record.
    pub fn of(rec: &CrmRecord) -> Option<Kind> {
        Some(match rec {
            CrmRecord::Account(_) => Kind::Account,
            CrmRecord::Contact(_) => Kind::Contact,
            CrmRecord::Opportunity(_) => Kind::Opportunity,
            CrmRecord::Product(_) => Kind::Product,
            CrmRecord::ProductPrice(_) => Kind::ProductPrice,
            CrmRecord::Order(_) => Kind::Order,
            CrmRecord::OrderLine(_) => Kind::OrderLine,
            CrmRecord::Quote(_) => Kind::Quote,
            CrmRecord::QuoteLine(_) => Kind::QuoteLine,
            _ => return None,
        })
    }

    pub fn table(self) -> &'static str {
        match self {
            Kind::Account => "crm_accounts",
            Kind::Contact => "crm_contacts",
            Kind::Opportunity => "crm_opportunities",
            Kind::Product => "crm_products",
            Kind::ProductPrice => "crm_product_prices",
            Kind::Order => "crm_orders",
            Kind::OrderLine => "crm_order_lines",
            Kind::Quote => "crm_quotes",
            Kind::QuoteLine => "crm_quote_lines",
        }
    }

    pub fn columns(self) -> &'static [Col] {
        match self {
            Kind::Account => ACCOUNT,
            Kind::Contact => CONTACT,
            Kind::Opportunity => OPPORTUNITY,
            Kind::Product => PRODUCT,
            Kind::ProductPrice => PRODUCT_PRICE,
            Kind::Order => ORDER,
            Kind::OrderLine => ORDER_LINE,
            Kind::Quote => QUOTE,
            Kind::QuoteLine => QUOTE_LINE,
        }
    }

    /// The reference slots of this table, with the Salesforce field each
    /// comes from.
    pub fn links(self) -> &'static [(Link, &'static str)] {
        match self {
            Kind::Account => &[(Link::ParentAccount, "ParentId")],
            Kind::Contact => &[(Link::Account, "AccountId")],
            Kind::Opportunity => &[(Link::Account, "AccountId"), (Link::Contact, "ContactId")],
            Kind::Product => &[],
            Kind::ProductPrice => &[(Link::Product, "Product2Id")],
            Kind::Order => &[
                (Link::Account, "AccountId"),
                (Link::Contact, "BillToContactId"),
                (Link::Opportunity, "OpportunityId"),
            ],
            Kind::OrderLine => &[(Link::Order, "OrderId"), (Link::Product, "Product2Id")],
            Kind::Quote => &[
                (Link::Account, "AccountId"),
                (Link::Contact, "ContactId"),
                (Link::Opportunity, "OpportunityId"),
            ],
            Kind::QuoteLine => &[(Link::Quote, "QuoteId"), (Link::Product, "Product2Id")],
        }
    }

    /// The Salesforce field of a column (`Id` for the key columns).
    pub fn field(self, column: &str) -> &'static str {
        self.columns()
            .iter()
            .find(|c| c.name == column)
            .map_or("Id", |c| c.field)
    }

    /// The page's statement: `$1` tenant, `$2` Salesforce ids, then one
    /// array per column. Returns `(sf_id, crm_id, created, stored name)`
    /// per row written (the stored name only for accounts, whose name may
    /// be renamed; price book entries return the first three only; in
    /// [`WriteMode::SkipExisting`], rows already present are not returned).
    pub fn insert_sql(self, mode: WriteMode) -> String {
        if self == Kind::ProductPrice {
            return price_sql(mode);
        }
        let cols = self.columns();
        let names: Vec<&str> = cols.iter().map(|c| c.name).collect();
        let arrays: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(i, c)| format!("${}::{}[]", i + 3, c.ty))
            .collect();
        let exprs: Vec<String> = cols
            .iter()
            .map(|c| match (self, c.name) {
                // Duplicate names (case-insensitive) get the Salesforce id
                // appended: see the policy in PgCrmSink's docs.
                (Kind::Account, "name") => {
                    "CASE WHEN row_number() OVER (PARTITION BY lower(v.name) ORDER BY v.ord) > 1
                        OR EXISTS (SELECT 1 FROM crm_accounts o WHERE o.tenant_id = $1
                                   AND lower(o.name) = lower(v.name) AND o.sf_id <> v.sf_id)
                     THEN v.name || ' (' || left(v.sf_id, 15) || ')' ELSE v.name END"
                        .to_owned()
                }
                (_, "custom_fields") => "COALESCE(v.custom_fields, '{}')".to_owned(),
                (_, name) => format!("v.{name}"),
            })
            .collect();
        let on_conflict = match mode {
            WriteMode::Update => {
                let sets: Vec<String> = names
                    .iter()
                    .map(|n| format!("{n} = EXCLUDED.{n}"))
                    .collect();
                format!(
                    "DO UPDATE SET {}, updated_at = now(), deleted_at = NULL",
                    sets.join(", ")
                )
            }
            _ => "DO NOTHING".to_owned(),
        };
        format!(
            "INSERT INTO {table} (tenant_id, sf_id, {names})
             SELECT $1, v.sf_id, {exprs}
             FROM UNNEST($2::text[], {arrays}) WITH ORDINALITY AS v(sf_id, {names}, ord)
             ORDER BY v.ord
             ON CONFLICT (tenant_id, sf_id) {on_conflict}
             RETURNING sf_id, id::text, (xmax = 0), {stored}",
            stored = if self == Kind::Account {
                "name"
            } else {
                "NULL::text"
            },
            table = self.table(),
            names = names.join(", "),
            exprs = exprs.join(", "),
            arrays = arrays.join(", "),
        )
    }

    /// The statement that marks rows deleted by Salesforce id (`$2`) at
    /// `$3`, returning the Salesforce ids found; a price book entry's
    /// deletion takes its product's price away.
    pub fn delete_sql(self) -> String {
        let marked = format!(
            "UPDATE {table} t SET deleted_at = COALESCE(t.deleted_at, v.at), updated_at = now()
             FROM UNNEST($2::text[], $3::timestamptz[]) AS v(sf_id, at)
             WHERE t.tenant_id = $1 AND t.sf_id = v.sf_id",
            table = self.table()
        );
        if self == Kind::ProductPrice {
            format!(
                "WITH marked AS ({marked} RETURNING t.sf_id, t.product_id),
                 unpriced AS (
                     UPDATE crm_products p SET price = NULL, updated_at = now()
                     FROM marked m WHERE p.tenant_id = $1 AND p.id = m.product_id
                 )
                 SELECT sf_id FROM marked"
            )
        } else {
            format!("{marked} RETURNING t.sf_id")
        }
    }

    /// The query that reads back ids of rows already present.
    pub fn existing_sql(self) -> String {
        let id = if self == Kind::ProductPrice {
            "product_id"
        } else {
            "id"
        };
        format!(
            "SELECT sf_id, {id}::text FROM {} WHERE tenant_id = $1 AND sf_id = ANY($2)",
            self.table()
        )
    }
}

/// Price book entries: written to `crm_product_prices`; the entries written
/// (all in Update mode, new ones in SkipExisting mode) set their product's
/// price. The CRM id returned is the product's.
fn price_sql(mode: WriteMode) -> String {
    let on_conflict = match mode {
        WriteMode::Update => {
            "DO UPDATE SET product_id = EXCLUDED.product_id, price = EXCLUDED.price,
                currency = EXCLUDED.currency, is_active = EXCLUDED.is_active, updated_at = now(),
                deleted_at = NULL"
        }
        _ => "DO NOTHING",
    };
    format!(
        "WITH v AS (
             SELECT * FROM UNNEST($2::text[], $3::uuid[], $4::numeric[], $5::text[], $6::bool[])
                 WITH ORDINALITY AS v(sf_id, product_id, price, currency, is_active, ord)
         ), written AS (
             INSERT INTO crm_product_prices (tenant_id, sf_id, product_id, price, currency, is_active)
             SELECT $1, sf_id, product_id, price, currency, is_active FROM v ORDER BY ord
             ON CONFLICT (tenant_id, sf_id) {on_conflict}
             RETURNING sf_id, product_id, price, currency, (xmax = 0) AS created
         ), priced AS (
             UPDATE crm_products p
             SET price = s.price, currency = COALESCE(s.currency, p.currency), updated_at = now()
             FROM (SELECT DISTINCT ON (w.product_id) w.product_id, w.price, w.currency
                   FROM written w JOIN v USING (sf_id)
                   WHERE w.price IS NOT NULL ORDER BY w.product_id, v.ord DESC) s
             WHERE p.tenant_id = $1 AND p.id = s.product_id
         )
         SELECT sf_id, product_id::text, created FROM written"
    )
}

/// A reference as a UUID (references were checked to parse before).
fn uuid(id: Option<&CrmId>) -> Option<Uuid> {
    id.and_then(|id| Uuid::parse_str(id.as_str()).ok())
}

type Q<'q> = Query<'q, Postgres, PgArguments>;

fn addresses<'q>(mut q: Q<'q>, addrs: &[&'q Address]) -> Q<'q> {
    let part = |f: fn(&'q Address) -> &'q Option<String>| -> Vec<Option<&'q str>> {
        addrs.iter().map(|a| f(a).as_deref()).collect()
    };
    q = q.bind(part(|a| &a.line));
    q = q.bind(part(|a| &a.city));
    q = q.bind(part(|a| &a.state));
    q = q.bind(part(|a| &a.postcode));
    q.bind(part(|a| &a.country))
}

/// Collects one column from the records of one kind.
macro_rules! column {
    ($recs:expr, $variant:ident, |$r:ident| $e:expr) => {
        $recs
            .iter()
            .map(|rec| match rec {
                CrmRecord::$variant($r) => $e,
                _ => unreachable!("a group holds one kind of record"),
            })
            .collect::<Vec<_>>()
    };
}

/// Binds the column arrays of `recs` (all of this kind), in column order.
pub(super) fn bind<'q>(kind: Kind, mut q: Q<'q>, recs: &[&'q CrmRecord]) -> Q<'q> {
    let s = |o: &'q Option<String>| o.as_deref();
    match kind {
        Kind::Account => {
            q = q
                .bind(column!(recs, Account, |a| a.name.as_str()))
                .bind(column!(recs, Account, |a| s(&a.email)))
                .bind(column!(recs, Account, |a| s(&a.phone)))
                .bind(column!(recs, Account, |a| s(&a.website)))
                .bind(column!(recs, Account, |a| s(&a.industry)))
                .bind(column!(recs, Account, |a| s(&a.account_type)))
                .bind(column!(recs, Account, |a| a.number_of_employees))
                .bind(column!(recs, Account, |a| a.annual_revenue))
                .bind(column!(recs, Account, |a| s(&a.currency)));
            q = addresses(q, &column!(recs, Account, |a| &a.address));
            q.bind(column!(recs, Account, |a| s(&a.description)))
                .bind(column!(recs, Account, |a| uuid(a.parent.as_ref())))
                .bind(column!(recs, Account, |a| sqlx::types::Json(
                    a.custom_fields.clone()
                )))
        }
        Kind::Contact => {
            q = q
                .bind(column!(recs, Contact, |c| s(&c.first_name)))
                .bind(column!(recs, Contact, |c| c.last_name.as_str()))
                .bind(column!(recs, Contact, |c| s(&c.email)))
                .bind(column!(recs, Contact, |c| s(&c.phone)))
                .bind(column!(recs, Contact, |c| s(&c.title)))
                .bind(column!(recs, Contact, |c| s(&c.department)))
                .bind(column!(recs, Contact, |c| c.do_not_call));
            q = addresses(q, &column!(recs, Contact, |c| &c.address));
            q.bind(column!(recs, Contact, |c| s(&c.description)))
                .bind(column!(recs, Contact, |c| uuid(c.account.as_ref())))
                .bind(column!(recs, Contact, |c| sqlx::types::Json(
                    c.custom_fields.clone()
                )))
        }
        Kind::Opportunity => q
            .bind(column!(recs, Opportunity, |o| o.name.as_str()))
            .bind(column!(recs, Opportunity, |o| o.stage.code()))
            .bind(column!(recs, Opportunity, |o| o.amount))
            .bind(column!(recs, Opportunity, |o| o.probability))
            .bind(column!(recs, Opportunity, |o| o.closed_on))
            .bind(column!(recs, Opportunity, |o| s(&o.lead_source)))
            .bind(column!(recs, Opportunity, |o| s(&o.opportunity_type)))
            .bind(column!(recs, Opportunity, |o| s(&o.currency)))
            .bind(column!(recs, Opportunity, |o| s(&o.description)))
            .bind(column!(recs, Opportunity, |o| uuid(o.account.as_ref())))
            .bind(column!(recs, Opportunity, |o| uuid(o.contact.as_ref())))
            .bind(column!(recs, Opportunity, |o| sqlx::types::Json(
                o.custom_fields.clone()
            ))),
        Kind::Product => q
            .bind(column!(recs, Product, |p| p.name.as_str()))
            .bind(column!(recs, Product, |p| s(&p.sku)))
            .bind(column!(recs, Product, |p| s(&p.description)))
            .bind(column!(recs, Product, |p| p.is_active))
            .bind(column!(recs, Product, |p| s(&p.family)))
            .bind(column!(recs, Product, |p| p.price))
            .bind(column!(recs, Product, |p| s(&p.currency)))
            .bind(column!(recs, Product, |p| sqlx::types::Json(
                p.custom_fields.clone()
            ))),
        Kind::ProductPrice => q
            .bind(column!(recs, ProductPrice, |p| uuid(p.product.as_ref())))
            .bind(column!(recs, ProductPrice, |p| p.price))
            .bind(column!(recs, ProductPrice, |p| s(&p.currency)))
            .bind(column!(recs, ProductPrice, |p| p.is_active)),
        Kind::Order => {
            q = q
                .bind(column!(recs, Order, |o| s(&o.name)))
                .bind(column!(recs, Order, |o| s(&o.order_number)))
                .bind(column!(recs, Order, |o| o.status.code()))
                .bind(column!(recs, Order, |o| o.order_date))
                .bind(column!(recs, Order, |o| o.activated_date))
                .bind(column!(recs, Order, |o| o.total_amount))
                .bind(column!(recs, Order, |o| s(&o.currency)));
            q = addresses(q, &column!(recs, Order, |o| &o.billing_address));
            q = addresses(q, &column!(recs, Order, |o| &o.shipping_address));
            q.bind(column!(recs, Order, |o| s(&o.description)))
                .bind(column!(recs, Order, |o| uuid(o.account.as_ref())))
                .bind(column!(recs, Order, |o| uuid(o.contact.as_ref())))
                .bind(column!(recs, Order, |o| uuid(o.opportunity.as_ref())))
                .bind(column!(recs, Order, |o| sqlx::types::Json(
                    o.custom_fields.clone()
                )))
        }
        Kind::OrderLine => q
            .bind(column!(recs, OrderLine, |l| uuid(l.order.as_ref())))
            .bind(column!(recs, OrderLine, |l| uuid(l.product.as_ref())))
            .bind(column!(recs, OrderLine, |l| s(&l.name)))
            .bind(column!(recs, OrderLine, |l| l.quantity))
            .bind(column!(recs, OrderLine, |l| l.unit_price))
            .bind(column!(recs, OrderLine, |l| l.discount_amount))
            .bind(column!(recs, OrderLine, |l| l.total)),
        Kind::Quote => q
            .bind(column!(recs, Quote, |o| o.title.as_str()))
            .bind(column!(recs, Quote, |o| s(&o.quote_number)))
            .bind(column!(recs, Quote, |o| o.status.code()))
            .bind(column!(recs, Quote, |o| o.subtotal))
            .bind(column!(recs, Quote, |o| o.discount))
            .bind(column!(recs, Quote, |o| o.tax))
            .bind(column!(recs, Quote, |o| o.total))
            .bind(column!(recs, Quote, |o| s(&o.currency)))
            .bind(column!(recs, Quote, |o| o.expiry_date))
            .bind(column!(recs, Quote, |o| s(&o.notes)))
            .bind(column!(recs, Quote, |o| uuid(o.account.as_ref())))
            .bind(column!(recs, Quote, |o| uuid(o.contact.as_ref())))
            .bind(column!(recs, Quote, |o| uuid(o.opportunity.as_ref())))
            .bind(column!(recs, Quote, |o| sqlx::types::Json(
                o.custom_fields.clone()
            ))),
        Kind::QuoteLine => q
            .bind(column!(recs, QuoteLine, |l| uuid(l.quote.as_ref())))
            .bind(column!(recs, QuoteLine, |l| uuid(l.product.as_ref())))
            .bind(column!(recs, QuoteLine, |l| s(&l.name)))
            .bind(column!(recs, QuoteLine, |l| l.quantity))
            .bind(column!(recs, QuoteLine, |l| l.unit_price))
            .bind(column!(recs, QuoteLine, |l| l.discount))
            .bind(column!(recs, QuoteLine, |l| l.total)),
    }
}
