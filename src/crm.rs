//! Typed CRM records: what the mappers produce and a [`CrmSink`](crate::CrmSink) writes.
//!
//! Fields follow the seed plan's target CRM (BottleCRM). Money is
//! [`Decimal`], dates are [`NaiveDate`] / [`DateTime<Utc>`], countries are
//! ISO 3166-1 alpha-2 codes. References to other records are
//! [`CrmId`]s, filled in by the engine once the lookups are resolved.
//!
//! The structs are `#[non_exhaustive]` (fields will be added); build one from
//! `Default` and set its fields:
//!
//! ```
//! use salesforce_import::crm::{Order, OrderStatus};
//! let mut order = Order::default();
//! order.name = Some("Spring order".into());
//! order.status = OrderStatus::Activated;
//! ```

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::id::CrmId;

/// Extra Salesforce fields (custom `__c` fields included) a host asked to
/// carry over, keyed by the name the host chose, each with its JSON text as
/// Salesforce sent it.
pub type CustomFields = BTreeMap<String, CustomValue>;

/// One custom field's value: its JSON text exactly as Salesforce sent it. A
/// number keeps every digit (`999999999999999999.99`, `1e400`): nothing
/// goes through `f64`. Serializes as that JSON (a PostgreSQL `jsonb`
/// column keeps such numbers exactly too).
///
/// ```
/// use salesforce_import::crm::CustomValue;
/// let v = CustomValue::from_json("999999999999999999.99").unwrap();
/// assert_eq!(v.json(), "999999999999999999.99");
/// assert_eq!(v.as_decimal().unwrap().to_string(), "999999999999999999.99");
/// assert_eq!(serde_json::to_string(&v).unwrap(), "999999999999999999.99");
/// assert_eq!(CustomValue::from_json(r#""EMEA""#).unwrap().as_text().as_deref(), Some("EMEA"));
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomValue(Box<RawValue>);

impl CustomValue {
    /// A value from its JSON text (checked to be JSON; kept as written,
    /// surrounding whitespace aside).
    pub fn from_json(json: &str) -> Result<CustomValue, serde_json::Error> {
        RawValue::from_string(json.trim().to_owned()).map(CustomValue)
    }

    /// The JSON text.
    pub fn json(&self) -> &str {
        self.0.get()
    }

    /// As a `serde_json::Value`. Numbers beyond `f64` lose digits there:
    /// prefer [`json`](CustomValue::json) or
    /// [`as_decimal`](CustomValue::as_decimal) for them.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(self.json()).unwrap_or(serde_json::Value::Null)
    }

    /// A number, exactly (scientific notation included), when the value is
    /// one that a decimal holds.
    pub fn as_decimal(&self) -> Option<Decimal> {
        let text = self.json();
        if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            return None;
        }
        text.parse()
            .ok()
            .or_else(|| Decimal::from_scientific(text).ok())
    }

    /// A string value's text (escapes decoded).
    pub fn as_text(&self) -> Option<String> {
        serde_json::from_str::<String>(self.json()).ok()
    }
}

impl From<serde_json::Value> for CustomValue {
    fn from(value: serde_json::Value) -> CustomValue {
        CustomValue(
            serde_json::value::to_raw_value(&value).expect("a serde_json::Value always serializes"),
        )
    }
}

impl PartialEq for CustomValue {
    fn eq(&self, other: &CustomValue) -> bool {
        self.json() == other.json()
    }
}

impl Eq for CustomValue {}

impl fmt::Debug for CustomValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.json())
    }
}

impl fmt::Display for CustomValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.json())
    }
}

/// A postal address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Address {
    /// Street, house number, lines joined with newlines as Salesforce holds them.
    pub line: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State or province.
    pub state: Option<String>,
    /// Postal code.
    pub postcode: Option<String>,
    /// ISO 3166-1 alpha-2 country code (`US`, `DE`).
    pub country: Option<String>,
}

impl Address {
    /// Whether every part is empty.
    pub fn is_empty(&self) -> bool {
        self == &Address::default()
    }
}

/// A company.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Account {
    /// Name (required).
    pub name: String,
    /// Email address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Web site.
    pub website: Option<String>,
    /// Industry.
    pub industry: Option<String>,
    /// Account type (`Customer - Direct`, `Technology Partner`).
    pub account_type: Option<String>,
    /// Number of employees.
    pub number_of_employees: Option<i64>,
    /// Annual revenue.
    pub annual_revenue: Option<Decimal>,
    /// ISO 4217 currency of the money fields.
    pub currency: Option<String>,
    /// Billing address.
    pub address: Address,
    /// Description.
    pub description: Option<String>,
    /// The parent account (`ParentId`), set in a second pass when the
    /// parent comes later in the import.
    pub parent: Option<CrmId>,
    /// Extra fields.
    pub custom_fields: CustomFields,
}

/// A person.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Contact {
    /// First name.
    pub first_name: Option<String>,
    /// Last name (required).
    pub last_name: String,
    /// Email.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Do not call.
    pub do_not_call: bool,
    /// Mailing address.
    pub address: Address,
    /// Description.
    pub description: Option<String>,
    /// The contact's account.
    pub account: Option<CrmId>,
    /// Extra fields.
    pub custom_fields: CustomFields,
}

/// An opportunity's stage in the CRM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum OpportunityStage {
    /// `PROSPECTING` (the default).
    #[default]
    Prospecting,
    /// `QUALIFICATION`.
    Qualification,
    /// `PROPOSAL`.
    Proposal,
    /// `NEGOTIATION`.
    Negotiation,
    /// `CLOSED_WON`.
    ClosedWon,
    /// `CLOSED_LOST`.
    ClosedLost,
}

impl OpportunityStage {
    /// The CRM's stage code (`CLOSED_WON`).
    pub fn code(self) -> &'static str {
        match self {
            Self::Prospecting => "PROSPECTING",
            Self::Qualification => "QUALIFICATION",
            Self::Proposal => "PROPOSAL",
            Self::Negotiation => "NEGOTIATION",
            Self::ClosedWon => "CLOSED_WON",
            Self::ClosedLost => "CLOSED_LOST",
        }
    }
}

/// A deal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Opportunity {
    /// Name (required).
    pub name: String,
    /// Stage.
    pub stage: OpportunityStage,
    /// Amount.
    pub amount: Option<Decimal>,
    /// Probability in percent, 0 to 100.
    pub probability: Option<Decimal>,
    /// Close date.
    pub closed_on: Option<NaiveDate>,
    /// Lead source.
    pub lead_source: Option<String>,
    /// Opportunity type (`New Customer`, `Existing Customer - Upgrade`).
    pub opportunity_type: Option<String>,
    /// ISO 4217 currency.
    pub currency: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// The account.
    pub account: Option<CrmId>,
    /// The primary contact.
    pub contact: Option<CrmId>,
    /// Extra fields.
    pub custom_fields: CustomFields,
}

/// A product.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Product {
    /// Name (required).
    pub name: String,
    /// Stock keeping unit (`ProductCode`).
    pub sku: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Whether the product can be sold.
    pub is_active: bool,
    /// Product family.
    pub family: Option<String>,
    /// List price: the standard price book entry's `UnitPrice`, set when
    /// the price book entries are imported.
    pub price: Option<Decimal>,
    /// ISO 4217 currency of the price.
    pub currency: Option<String>,
    /// Extra fields.
    pub custom_fields: CustomFields,
}

/// A price book entry, written onto its product: the standard price book's
/// entry sets the product's price; every entry maps to its product so that
/// order and quote lines that name a price book entry find the product.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProductPrice {
    /// The product (required).
    pub product: Option<CrmId>,
    /// The price, when this entry is in the standard price book.
    pub price: Option<Decimal>,
    /// ISO 4217 currency.
    pub currency: Option<String>,
    /// Whether the entry is active.
    pub is_active: bool,
}

/// An order's status in the CRM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum OrderStatus {
    /// `DRAFT` (the default).
    #[default]
    Draft,
    /// `ACTIVATED`.
    Activated,
    /// `COMPLETED`.
    Completed,
    /// `CANCELLED`.
    Cancelled,
}

impl OrderStatus {
    /// The CRM's status code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Draft => "DRAFT",
            Self::Activated => "ACTIVATED",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

/// An order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Order {
    /// Name.
    pub name: Option<String>,
    /// Salesforce's order number.
    pub order_number: Option<String>,
    /// Status.
    pub status: OrderStatus,
    /// Order (effective) date.
    pub order_date: Option<NaiveDate>,
    /// When it was activated.
    pub activated_date: Option<DateTime<Utc>>,
    /// Total amount.
    pub total_amount: Option<Decimal>,
    /// ISO 4217 currency.
    pub currency: Option<String>,
    /// Billing address.
    pub billing_address: Address,
    /// Shipping address.
    pub shipping_address: Address,
    /// Description.
    pub description: Option<String>,
    /// The account (required: an order whose account was not imported is a
    /// record error).
    pub account: Option<CrmId>,
    /// The customer-authorised contact.
    pub contact: Option<CrmId>,
    /// The opportunity.
    pub opportunity: Option<CrmId>,
    /// Extra fields.
    pub custom_fields: CustomFields,
}

/// One line of an order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OrderLine {
    /// The order (required).
    pub order: Option<CrmId>,
    /// The product.
    pub product: Option<CrmId>,
    /// Line description.
    pub name: Option<String>,
    /// Quantity.
    pub quantity: Decimal,
    /// Unit price.
    pub unit_price: Decimal,
    /// Discount against the list price: `(ListPrice - UnitPrice) * Quantity`, never negative.
    pub discount_amount: Decimal,
    /// Line total.
    pub total: Decimal,
}

/// A quote's status in the CRM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum QuoteStatus {
    /// `DRAFT` (the default).
    #[default]
    Draft,
    /// `SENT`.
    Sent,
    /// `ACCEPTED`.
    Accepted,
    /// `DECLINED`.
    Declined,
}

impl QuoteStatus {
    /// The CRM's status code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Draft => "DRAFT",
            Self::Sent => "SENT",
            Self::Accepted => "ACCEPTED",
            Self::Declined => "DECLINED",
        }
    }
}

/// A quote.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Quote {
    /// Title (the quote's `Name`, required).
    pub title: String,
    /// Salesforce's quote number.
    pub quote_number: Option<String>,
    /// Status.
    pub status: QuoteStatus,
    /// Sum of the lines before discount.
    pub subtotal: Option<Decimal>,
    /// Discount in percent.
    pub discount: Option<Decimal>,
    /// Tax.
    pub tax: Option<Decimal>,
    /// Grand total.
    pub total: Option<Decimal>,
    /// ISO 4217 currency.
    pub currency: Option<String>,
    /// Expiry date.
    pub expiry_date: Option<NaiveDate>,
    /// Notes (`Description`).
    pub notes: Option<String>,
    /// The account.
    pub account: Option<CrmId>,
    /// The contact.
    pub contact: Option<CrmId>,
    /// The opportunity.
    pub opportunity: Option<CrmId>,
    /// Extra fields.
    pub custom_fields: CustomFields,
}

/// One line of a quote.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QuoteLine {
    /// The quote (required).
    pub quote: Option<CrmId>,
    /// The product.
    pub product: Option<CrmId>,
    /// Line description.
    pub name: Option<String>,
    /// Quantity.
    pub quantity: Decimal,
    /// Unit price.
    pub unit_price: Decimal,
    /// Discount in percent.
    pub discount: Option<Decimal>,
    /// Line total.
    pub total: Decimal,
}

/// A record of an object a host added with its own mapper.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CustomRecord {
    /// The mapped fields.
    pub fields: CustomFields,
    /// Resolved references, by the slot name the host's mapper declared.
    pub links: std::collections::BTreeMap<String, CrmId>,
}

impl CustomRecord {
    /// A custom record with these fields.
    pub fn new(fields: CustomFields) -> CustomRecord {
        CustomRecord {
            fields,
            links: Default::default(),
        }
    }
}

/// Where a resolved lookup goes in a [`CrmRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Link {
    /// The account.
    Account,
    /// The parent account.
    ParentAccount,
    /// The contact.
    Contact,
    /// The opportunity.
    Opportunity,
    /// The product.
    Product,
    /// The order.
    Order,
    /// The quote.
    Quote,
    /// A slot of a [`CustomRecord`].
    Custom(String),
}

/// A mapped record of any kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CrmRecord {
    /// An account.
    Account(Account),
    /// A contact.
    Contact(Contact),
    /// An opportunity.
    Opportunity(Opportunity),
    /// A product.
    Product(Product),
    /// A price book entry, written onto its product.
    ProductPrice(ProductPrice),
    /// An order.
    Order(Order),
    /// An order line.
    OrderLine(OrderLine),
    /// A quote.
    Quote(Quote),
    /// A quote line.
    QuoteLine(QuoteLine),
    /// A record of a host's own object.
    Custom(CustomRecord),
}

/// Matches a record against a link slot, yielding `&Option<CrmId>` or
/// `&mut Option<CrmId>` (one table for reading and writing).
macro_rules! slot {
    ($rec:expr, $link:expr $(, $m:tt)?) => {{
        use CrmRecord as R;
        match ($rec, $link) {
            (R::Account(a), Link::ParentAccount) => Some(&$($m)? a.parent),
            (R::Contact(c), Link::Account) => Some(&$($m)? c.account),
            (R::Opportunity(o), Link::Account) => Some(&$($m)? o.account),
            (R::Opportunity(o), Link::Contact) => Some(&$($m)? o.contact),
            (R::ProductPrice(p), Link::Product) => Some(&$($m)? p.product),
            (R::Order(o), Link::Account) => Some(&$($m)? o.account),
            (R::Order(o), Link::Contact) => Some(&$($m)? o.contact),
            (R::Order(o), Link::Opportunity) => Some(&$($m)? o.opportunity),
            (R::OrderLine(l), Link::Order) => Some(&$($m)? l.order),
            (R::OrderLine(l), Link::Product) => Some(&$($m)? l.product),
            (R::Quote(q), Link::Account) => Some(&$($m)? q.account),
            (R::Quote(q), Link::Contact) => Some(&$($m)? q.contact),
            (R::Quote(q), Link::Opportunity) => Some(&$($m)? q.opportunity),
            (R::QuoteLine(l), Link::Quote) => Some(&$($m)? l.quote),
            (R::QuoteLine(l), Link::Product) => Some(&$($m)? l.product),
            _ => None,
        }
    }};
}

impl CrmRecord {
    /// Sets a resolved reference. Returns `false` when the record has no
    /// such slot.
    pub fn set_link(&mut self, link: &Link, id: CrmId) -> bool {
        if let (CrmRecord::Custom(c), Link::Custom(name)) = (&mut *self, link) {
            c.links.insert(name.clone(), id);
            return true;
        }
        match slot!(self, link, mut) {
            Some(slot) => {
                *slot = Some(id);
                true
            }
            None => false,
        }
    }

    /// The reference in slot `link`, if set.
    pub fn link(&self, link: &Link) -> Option<&CrmId> {
        if let (CrmRecord::Custom(c), Link::Custom(name)) = (self, link) {
            return c.links.get(name);
        }
        slot!(self, link).and_then(Option::as_ref)
    }
}

/// What a job does with records imported before.
///
/// ```
/// use salesforce_import::WriteMode;
/// assert_eq!(WriteMode::default(), WriteMode::UpdateChanged);
/// assert_eq!("update_changed".parse::<WriteMode>().unwrap(), WriteMode::UpdateChanged);
/// assert_eq!(WriteMode::SkipExisting.as_str(), "skip_existing");
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WriteMode {
    /// Records imported before are left as they are, even when Salesforce
    /// changed them since (the seed plan's behaviour). Each page with such
    /// stale records logs a warning that counts them.
    SkipExisting,
    /// Records imported before are rewritten with Salesforce's current
    /// values, changed or not.
    Update,
    /// Records imported before are rewritten only when Salesforce changed
    /// them since (their `SystemModstamp` differs from the one the id map
    /// kept; a record without a stamp counts as changed); unchanged ones are
    /// skipped. The default: a re-run brings the CRM up to date and writes
    /// only what changed.
    #[default]
    UpdateChanged,
}

impl WriteMode {
    /// The mode's name: `skip_existing`, `update` or `update_changed`.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::SkipExisting => "skip_existing",
            WriteMode::Update => "update",
            WriteMode::UpdateChanged => "update_changed",
        }
    }
}

impl std::fmt::Display for WriteMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for WriteMode {
    type Err = crate::error::Error;

    fn from_str(s: &str) -> Result<WriteMode, Self::Err> {
        match s {
            "skip_existing" => Ok(WriteMode::SkipExisting),
            "update" => Ok(WriteMode::Update),
            "update_changed" => Ok(WriteMode::UpdateChanged),
            other => Err(crate::error::Error::config(format!(
                "unknown write mode {:?}: use \"update_changed\", \"update\" or \"skip_existing\"",
                other.chars().take(40).collect::<String>()
            ))),
        }
    }
}
