//! Quote -> [`crm::Quote`](crate::crm::Quote), and QuoteLineItem ->
//! [`crm::QuoteLine`](crate::crm::QuoteLine).

use rust_decimal::{Decimal, RoundingStrategy};

use super::{LookupSpec, Mapped, Mapper, Reader, Tables, required_amount};
use crate::crm::{CrmRecord, Link, Quote, QuoteLine};
use crate::error::{Problem, RecordError};
use crate::object::SObject;
use crate::record::SfRecord;

/// Maps `Quote`. `Status` goes through [`Tables::quote_status`]; every
/// lookup is optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct QuoteMapper;

const QUOTE_FIELDS: &[&str] = &[
    "Id",
    "Name",
    "QuoteNumber",
    "Status",
    "Subtotal",
    "Discount",
    "Tax",
    "GrandTotal",
    "TotalPrice",
    "CurrencyIsoCode",
    "ExpirationDate",
    "Description",
    "AccountId",
    "ContactId",
    "OpportunityId",
];

const QUOTE_LOOKUPS: &[LookupSpec] = &[
    LookupSpec::optional("AccountId", SObject::ACCOUNT, Link::Account),
    LookupSpec::optional("ContactId", SObject::CONTACT, Link::Contact),
    LookupSpec::optional("OpportunityId", SObject::OPPORTUNITY, Link::Opportunity),
];

impl Mapper for QuoteMapper {
    fn object(&self) -> SObject {
        SObject::QUOTE
    }

    fn fields(&self) -> &[&'static str] {
        QUOTE_FIELDS
    }

    fn lookups(&self) -> &[LookupSpec] {
        QUOTE_LOOKUPS
    }

    fn map(&self, record: &SfRecord, tables: &Tables) -> Result<Mapped, RecordError> {
        let mut r = Reader::new(SObject::QUOTE, record, tables)?;
        let quote = Quote {
            title: r.required_text("Name")?,
            quote_number: r.text("QuoteNumber")?,
            status: r.picklist("Status", &tables.quote_status)?,
            subtotal: r.amount("Subtotal")?,
            discount: r.percent("Discount")?,
            tax: r.amount("Tax")?,
            total: quote_total(&mut r, record)?,
            currency: r.currency("CurrencyIsoCode")?,
            expiry_date: r.date("ExpirationDate")?,
            notes: r.long_text("Description")?,
            account: None,
            contact: None,
            opportunity: None,
            custom_fields: r.custom_fields(),
        };
        r.finish(CrmRecord::Quote(quote), QUOTE_LOOKUPS)
    }
}

/// The quote's total: `GrandTotal`, or, when the record has no such field
/// (an org or API version without it), `TotalPrice` with a warning.
fn quote_total(r: &mut Reader<'_>, record: &SfRecord) -> Result<Option<Decimal>, RecordError> {
    if record.raw_field("GrandTotal").is_some() || record.raw_field("TotalPrice").is_none() {
        return r.amount("GrandTotal");
    }
    let total = r.amount("TotalPrice")?;
    r.warn(
        "GrandTotal",
        Problem::Fallback {
            used: "TotalPrice".into(),
        },
    );
    Ok(total)
}

/// Maps `QuoteLineItem`, imported with `Quote`. The product comes from
/// `Product2Id`, or failing that from the price book entry; the engine
/// takes the first that resolves.
#[derive(Debug, Clone, Copy, Default)]
pub struct QuoteLineItemMapper;

const LINE_FIELDS: &[&str] = &[
    "Id",
    "QuoteId",
    "Product2Id",
    "PricebookEntryId",
    "Description",
    "Quantity",
    "UnitPrice",
    "Discount",
    "TotalPrice",
];

const LINE_LOOKUPS: &[LookupSpec] = &[
    LookupSpec::required("QuoteId", SObject::QUOTE, Link::Quote),
    LookupSpec::optional("Product2Id", SObject::PRODUCT2, Link::Product),
    LookupSpec::optional("PricebookEntryId", SObject::PRICEBOOK_ENTRY, Link::Product),
];

impl Mapper for QuoteLineItemMapper {
    fn object(&self) -> SObject {
        SObject::QUOTE_LINE_ITEM
    }

    fn fields(&self) -> &[&'static str] {
        LINE_FIELDS
    }

    fn lookups(&self) -> &[LookupSpec] {
        LINE_LOOKUPS
    }

    fn imported_with(&self) -> Option<SObject> {
        Some(SObject::QUOTE)
    }

    fn map(&self, record: &SfRecord, tables: &Tables) -> Result<Mapped, RecordError> {
        let mut r = Reader::new(SObject::QUOTE_LINE_ITEM, record, tables)?;
        let name = r.text("Description")?;
        let quantity = required_amount(&r, "Quantity")?;
        let unit_price = required_amount(&r, "UnitPrice")?;
        let discount = r.percent("Discount")?;
        let total = match r.amount("TotalPrice")? {
            Some(total) => total,
            None => line_total(&r, quantity, unit_price, discount.unwrap_or(Decimal::ZERO))?,
        };
        let line = QuoteLine {
            quote: None,
            product: None,
            name,
            quantity,
            unit_price,
            discount,
            total,
        };
        r.finish(CrmRecord::QuoteLine(line), LINE_LOOKUPS)
    }
}

/// `quantity * unit_price * (1 - discount / 100)`, to the cent (halves away
/// from zero); overflow is out of range on `TotalPrice`.
fn line_total(
    r: &Reader<'_>,
    quantity: Decimal,
    unit_price: Decimal,
    discount: Decimal,
) -> Result<Decimal, RecordError> {
    let overflow = || {
        r.error(
            "TotalPrice",
            Problem::OutOfRange {
                found: format!("{quantity} × {unit_price} × (1 - {discount}%)").into(),
            },
        )
    };
    let factor = discount
        .checked_div(Decimal::ONE_HUNDRED)
        .and_then(|d| Decimal::ONE.checked_sub(d))
        .ok_or_else(overflow)?;
    let total = quantity
        .checked_mul(unit_price)
        .and_then(|gross| gross.checked_mul(factor))
        .ok_or_else(overflow)?
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    r.check_amount("TotalPrice", total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::QuoteStatus;
    use crate::mapping::testutil::*;
    use crate::mapping::{CustomField, Requirement};
    use chrono::NaiveDate;
    use serde_json::json;

    fn quote_base() -> SfRecord {
        SfRecord::new(SObject::QUOTE)
            .with("Id", "0Q0x00000012345")
            .with("Name", "Q-2024 Generators")
    }

    fn map_quote(rec: &SfRecord, tables: &Tables) -> Result<(Quote, Mapped), RecordError> {
        map_as(&QuoteMapper, rec, tables)
    }

    fn line_base() -> SfRecord {
        SfRecord::new(SObject::QUOTE_LINE_ITEM)
            .with("Id", "0QLx00000012345")
            .with("QuoteId", "0Q0x00000012345")
            .with("Quantity", 3)
            .with("UnitPrice", "19.99")
    }

    fn map_line(rec: &SfRecord) -> Result<(QuoteLine, Mapped), RecordError> {
        map_as(&QuoteLineItemMapper, rec, &Tables::default())
    }

    #[test]
    fn quote_total_falls_back_to_total_price_only_without_grand_total() {
        let t = Tables::default();
        // Both: GrandTotal wins, no warning.
        let both = quote_base()
            .with("GrandTotal", "962.50")
            .with("TotalPrice", "875.00");
        let (q, m) = map_quote(&both, &t).unwrap();
        assert_eq!(q.total, Some(dec("962.5")));
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        // GrandTotal null (present): kept null, no fallback.
        let null = quote_base()
            .with("GrandTotal", serde_json::Value::Null)
            .with("TotalPrice", "875.00");
        let (q, m) = map_quote(&null, &t).unwrap();
        assert_eq!(q.total, None);
        assert!(m.warnings.is_empty());
        // Absent: TotalPrice, with a warning naming both.
        let absent = quote_base().with("TotalPrice", "875.00");
        let (q, m) = map_quote(&absent, &t).unwrap();
        assert_eq!(q.total, Some(dec("875")));
        assert_eq!(m.warnings.len(), 1);
        assert_eq!(m.warnings[0].field, "GrandTotal");
        assert_eq!(
            m.warnings[0].problem.to_string(),
            "not available: TotalPrice used instead"
        );
        // Neither: empty, no warning (the query's own warning says why).
        let (q, m) = map_quote(&quote_base(), &t).unwrap();
        assert_eq!(q.total, None);
        assert!(m.warnings.is_empty());
    }

    #[test]
    fn quote_every_field() {
        let rec = quote_base()
            .with("QuoteNumber", "00000042")
            .with("Status", "Presented")
            .with("Subtotal", "1000.00")
            .with("Discount", 12.5)
            .with("Tax", "87.50")
            .with("GrandTotal", "962.50")
            .with("CurrencyIsoCode", "CHF")
            .with("ExpirationDate", "2024-12-31")
            .with("Description", "Valid 30 days")
            .with("AccountId", "001x0000002xLCV")
            .with("ContactId", "003x0000004TmFk")
            .with("OpportunityId", "006x00000012345");
        let (q, m) = map_quote(&rec, &Tables::default()).unwrap();
        assert_eq!(q.title, "Q-2024 Generators");
        assert_eq!(q.quote_number.as_deref(), Some("00000042"));
        assert_eq!(q.status, QuoteStatus::Sent);
        assert_eq!(q.subtotal, Some(dec("1000")));
        assert_eq!(q.discount, Some(dec("12.5")));
        assert_eq!(q.tax, Some(dec("87.5")));
        assert_eq!(q.total, Some(dec("962.5")));
        assert_eq!(q.currency.as_deref(), Some("CHF"));
        assert_eq!(q.expiry_date, NaiveDate::from_ymd_opt(2024, 12, 31));
        assert_eq!(q.notes.as_deref(), Some("Valid 30 days"));
        assert_eq!(
            (&q.account, &q.contact, &q.opportunity),
            (&None, &None, &None)
        );
        assert!(q.custom_fields.is_empty());
        assert_eq!(m.sf_id.to_15(), "0Q0x00000012345");
        assert_eq!(
            lookups(&m),
            [
                (
                    "AccountId",
                    SObject::ACCOUNT,
                    Link::Account,
                    Requirement::Optional,
                    "001x0000002xLCV"
                ),
                (
                    "ContactId",
                    SObject::CONTACT,
                    Link::Contact,
                    Requirement::Optional,
                    "003x0000004TmFk"
                ),
                (
                    "OpportunityId",
                    SObject::OPPORTUNITY,
                    Link::Opportunity,
                    Requirement::Optional,
                    "006x00000012345"
                ),
            ]
        );
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        assert_eq!(QuoteMapper.imported_with(), None);
    }

    #[test]
    fn quote_only_name_is_required() {
        let (q, m) = map_quote(&quote_base(), &Tables::default()).unwrap();
        assert_eq!(q.status, QuoteStatus::Draft);
        assert_eq!(
            (q.subtotal, q.discount, q.tax, q.total),
            (None, None, None, None)
        );
        assert!(m.lookups.is_empty());
        assert!(m.warnings.is_empty());
    }

    #[test]
    fn every_quote_status() {
        let cases = [
            ("Draft", QuoteStatus::Draft),
            ("Needs Review", QuoteStatus::Draft),
            ("In Review", QuoteStatus::Sent),
            ("Presented", QuoteStatus::Sent),
            ("Approved", QuoteStatus::Accepted),
            ("Accepted", QuoteStatus::Accepted),
            ("Rejected", QuoteStatus::Declined),
            ("Denied", QuoteStatus::Declined),
            ("needs  review", QuoteStatus::Draft),
        ];
        for (sf, want) in cases {
            let (q, m) = map_quote(&quote_base().with("Status", sf), &Tables::default()).unwrap();
            assert_eq!(q.status, want, "{sf}");
            assert!(m.warnings.is_empty(), "{sf}");
        }
        let (q, m) = map_quote(&quote_base().with("Status", "Signed"), &Tables::default()).unwrap();
        assert_eq!(q.status, QuoteStatus::Draft);
        assert_eq!(m.warnings.len(), 1);
        assert_eq!(m.warnings[0].field, "Status");
    }

    #[test]
    fn host_tables_override_quote_status() {
        let mut tables = Tables::default();
        tables.quote_status = tables
            .quote_status
            .clone()
            .with("Signed", QuoteStatus::Accepted);
        let (q, m) = map_quote(&quote_base().with("Status", "Signed"), &tables).unwrap();
        assert_eq!(q.status, QuoteStatus::Accepted);
        assert!(m.warnings.is_empty());
    }

    #[test]
    fn quote_bad_input_names_the_field() {
        let cases: &[(&str, serde_json::Value)] = &[
            ("Name", serde_json::Value::Null),
            ("Name", " ".into()),
            ("Discount", 150.into()),
            ("Discount", "some".into()),
            ("Subtotal", "1e30".into()),
            ("Tax", "lots".into()),
            ("GrandTotal", "1e30".into()),
            ("ExpirationDate", "2024-02-30".into()),
            ("AccountId", "001".into()),
            ("ContactId", json!(true)),
            ("OpportunityId", "006x0000001234!".into()),
            ("Id", "0Q0".into()),
        ];
        for (field, value) in cases {
            let err = map_quote(&quote_base().with(field, value.clone()), &Tables::default())
                .unwrap_err();
            assert_eq!(err.field, *field, "{field} = {value}");
            assert_eq!(err.object, SObject::QUOTE);
        }
    }

    #[test]
    fn quote_custom_fields_are_carried() {
        let tables = Tables::default().with_custom_field(CustomField::new(
            SObject::QUOTE,
            "Terms__c",
            "terms",
        ));
        let (q, _) = map_quote(&quote_base().with("Terms__c", "Net 30"), &tables).unwrap();
        assert_eq!(q.custom_fields["terms"].json(), r#""Net 30""#);
    }

    #[test]
    fn line_every_field() {
        let rec = line_base()
            .with("Product2Id", "01tx00000012345")
            .with("PricebookEntryId", "01ux00000012345")
            .with("Description", "Generator")
            .with("Discount", 10)
            .with("TotalPrice", "53.97");
        let (l, m) = map_line(&rec).unwrap();
        assert_eq!(l.name.as_deref(), Some("Generator"));
        assert_eq!(l.quantity, dec("3"));
        assert_eq!(l.unit_price, dec("19.99"));
        assert_eq!(l.discount, Some(dec("10")));
        assert_eq!(l.total, dec("53.97"));
        assert_eq!((&l.quote, &l.product), (&None, &None));
        assert_eq!(m.sf_id.to_15(), "0QLx00000012345");
        assert_eq!(
            lookups(&m),
            [
                (
                    "QuoteId",
                    SObject::QUOTE,
                    Link::Quote,
                    Requirement::Required,
                    "0Q0x00000012345"
                ),
                (
                    "Product2Id",
                    SObject::PRODUCT2,
                    Link::Product,
                    Requirement::Optional,
                    "01tx00000012345"
                ),
                (
                    "PricebookEntryId",
                    SObject::PRICEBOOK_ENTRY,
                    Link::Product,
                    Requirement::Optional,
                    "01ux00000012345"
                ),
            ]
        );
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        assert_eq!(QuoteLineItemMapper.imported_with(), Some(SObject::QUOTE));
    }

    #[test]
    fn line_totals() {
        // (Quantity, UnitPrice, Discount, TotalPrice) -> total
        let n = serde_json::Value::Null;
        let cases: &[(
            serde_json::Value,
            serde_json::Value,
            serde_json::Value,
            serde_json::Value,
            &str,
        )] = &[
            (3.into(), "19.99".into(), n.clone(), n.clone(), "59.97"),
            (3.into(), "19.99".into(), 10.into(), n.clone(), "53.97"),
            (3.into(), "19.99".into(), 0.into(), n.clone(), "59.97"),
            (3.into(), "19.99".into(), 100.into(), n.clone(), "0"),
            (1.into(), "10.005".into(), n.clone(), n.clone(), "10.01"),
            (1.into(), "0.125".into(), n.clone(), n.clone(), "0.13"),
            (1.into(), "-0.125".into(), n.clone(), n.clone(), "-0.13"),
            (
                7.into(),
                "3.33".into(),
                "33.3333".into(),
                n.clone(),
                "15.54",
            ),
            (3.into(), "19.99".into(), 10.into(), "50".into(), "50"),
            ("2.5".into(), "4".into(), n.clone(), n.clone(), "10"),
        ];
        for (q, u, d, t, want) in cases {
            let rec = line_base()
                .with("Quantity", q.clone())
                .with("UnitPrice", u.clone())
                .with("Discount", d.clone())
                .with("TotalPrice", t.clone());
            let (line, _) = map_line(&rec).unwrap();
            assert_eq!(line.total, dec(want), "{q} {u} {d} {t}");
        }
    }

    #[test]
    fn line_overflow_is_out_of_range() {
        let big = "999999999999999999";
        for (q, u) in [(big, big), ("1000000000", "1000000000")] {
            let err = map_line(&line_base().with("Quantity", q).with("UnitPrice", u)).unwrap_err();
            assert_eq!(err.field, "TotalPrice");
            assert!(matches!(err.problem, Problem::OutOfRange { .. }), "{err}");
        }
    }

    #[test]
    fn line_bad_input_names_the_field() {
        let cases: &[(&str, serde_json::Value)] = &[
            ("Quantity", serde_json::Value::Null),
            ("Quantity", "lots".into()),
            ("Quantity", "1e30".into()),
            ("UnitPrice", serde_json::Value::Null),
            ("UnitPrice", "1e30".into()),
            ("Discount", (-1).into()),
            ("Discount", "1e30".into()),
            ("TotalPrice", "lots".into()),
            ("QuoteId", serde_json::Value::Null),
            ("QuoteId", "0Q0".into()),
            ("Product2Id", "bad id".into()),
            ("PricebookEntryId", json!([])),
            ("Id", "0QL".into()),
        ];
        for (field, value) in cases {
            let err = map_line(&line_base().with(field, value.clone())).unwrap_err();
            assert_eq!(err.field, *field, "{field} = {value}");
            assert_eq!(err.object, SObject::QUOTE_LINE_ITEM);
        }
        let err = map_line(&line_base().with("UnitPrice", serde_json::Value::Null)).unwrap_err();
        assert_eq!(err.problem, Problem::Missing);
    }
}
