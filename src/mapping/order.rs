//! Order -> [`crm::Order`](crate::crm::Order), and OrderItem ->
//! [`crm::OrderLine`](crate::crm::OrderLine).

use rust_decimal::Decimal;

use super::{
    AddressPrefix, LookupSpec, Mapped, Mapper, Reader, Tables, checked_product, required_amount,
};
use crate::crm::{CrmRecord, Link, Order, OrderLine};
use crate::error::{Problem, RecordError};
use crate::object::SObject;
use crate::record::SfRecord;

/// Maps `Order`. `Status` goes through [`Tables::order_status`]; the
/// account is a required lookup.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrderMapper;

const ORDER_FIELDS: &[&str] = &[
    "Id",
    "Name",
    "OrderNumber",
    "Status",
    "EffectiveDate",
    "ActivatedDate",
    "TotalAmount",
    "CurrencyIsoCode",
    "BillingStreet",
    "BillingCity",
    "BillingState",
    "BillingPostalCode",
    "BillingCountry",
    "ShippingStreet",
    "ShippingCity",
    "ShippingState",
    "ShippingPostalCode",
    "ShippingCountry",
    "Description",
    "AccountId",
    "BillToContactId",
    "OpportunityId",
];

const ORDER_LOOKUPS: &[LookupSpec] = &[
    LookupSpec::required("AccountId", SObject::ACCOUNT, Link::Account),
    LookupSpec::optional("BillToContactId", SObject::CONTACT, Link::Contact),
    LookupSpec::optional("OpportunityId", SObject::OPPORTUNITY, Link::Opportunity),
];

impl Mapper for OrderMapper {
    fn object(&self) -> SObject {
        SObject::ORDER
    }

    fn fields(&self) -> &[&'static str] {
        ORDER_FIELDS
    }

    fn lookups(&self) -> &[LookupSpec] {
        ORDER_LOOKUPS
    }

    fn map(&self, record: &SfRecord, tables: &Tables) -> Result<Mapped, RecordError> {
        let mut r = Reader::new(SObject::ORDER, record, tables)?;
        let order = Order {
            name: r.text("Name")?,
            order_number: r.text("OrderNumber")?,
            status: r.picklist("Status", &tables.order_status)?,
            order_date: r.date("EffectiveDate")?,
            activated_date: r.datetime("ActivatedDate")?,
            total_amount: r.amount("TotalAmount")?,
            currency: r.currency("CurrencyIsoCode")?,
            billing_address: r.address(AddressPrefix::Billing)?,
            shipping_address: r.address(AddressPrefix::Shipping)?,
            description: r.long_text("Description")?,
            account: None,
            contact: None,
            opportunity: None,
            custom_fields: r.custom_fields(),
        };
        r.finish(CrmRecord::Order(order), ORDER_LOOKUPS)
    }
}

/// Maps `OrderItem`, imported with `Order`. The product comes from
/// `Product2Id`, or failing that from the price book entry (which maps to
/// its product); the engine takes the first that resolves.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrderItemMapper;

const ITEM_FIELDS: &[&str] = &[
    "Id",
    "OrderId",
    "Product2Id",
    "PricebookEntryId",
    "Description",
    "Quantity",
    "UnitPrice",
    "ListPrice",
    "TotalPrice",
];

const ITEM_LOOKUPS: &[LookupSpec] = &[
    LookupSpec::required("OrderId", SObject::ORDER, Link::Order),
    LookupSpec::optional("Product2Id", SObject::PRODUCT2, Link::Product),
    LookupSpec::optional("PricebookEntryId", SObject::PRICEBOOK_ENTRY, Link::Product),
];

impl Mapper for OrderItemMapper {
    fn object(&self) -> SObject {
        SObject::ORDER_ITEM
    }

    fn fields(&self) -> &[&'static str] {
        ITEM_FIELDS
    }

    fn lookups(&self) -> &[LookupSpec] {
        ITEM_LOOKUPS
    }

    fn imported_with(&self) -> Option<SObject> {
        Some(SObject::ORDER)
    }

    fn map(&self, record: &SfRecord, tables: &Tables) -> Result<Mapped, RecordError> {
        let mut r = Reader::new(SObject::ORDER_ITEM, record, tables)?;
        let name = r.text("Description")?;
        let quantity = required_amount(&r, "Quantity")?;
        let unit_price = required_amount(&r, "UnitPrice")?;
        let discount_amount = match r.amount("ListPrice")? {
            None => Decimal::ZERO,
            Some(list) => {
                let per_unit = list.checked_sub(unit_price).ok_or_else(|| {
                    r.error(
                        "ListPrice",
                        Problem::OutOfRange {
                            found: format!("{list} - {unit_price}").into(),
                        },
                    )
                })?;
                checked_product(&r, "ListPrice", per_unit, quantity)?.max(Decimal::ZERO)
            }
        };
        let total = match r.amount("TotalPrice")? {
            Some(total) => total,
            None => checked_product(&r, "TotalPrice", quantity, unit_price)?,
        };
        let line = OrderLine {
            order: None,
            product: None,
            name,
            quantity,
            unit_price,
            discount_amount,
            total,
        };
        r.finish(CrmRecord::OrderLine(line), ITEM_LOOKUPS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::{Address, OrderStatus};
    use crate::mapping::testutil::*;
    use crate::mapping::{CustomField, Requirement};
    use chrono::{NaiveDate, TimeZone, Utc};
    use serde_json::json;

    fn order_base() -> SfRecord {
        SfRecord::new(SObject::ORDER)
            .with("Id", "801x00000012345")
            .with("AccountId", "001x0000002xLCV")
    }

    fn map_order(rec: &SfRecord, tables: &Tables) -> Result<(Order, Mapped), RecordError> {
        map_as(&OrderMapper, rec, tables)
    }

    fn item_base() -> SfRecord {
        SfRecord::new(SObject::ORDER_ITEM)
            .with("Id", "802x00000012345")
            .with("OrderId", "801x00000012345")
            .with("Quantity", 3)
            .with("UnitPrice", "10.50")
    }

    fn map_item(rec: &SfRecord) -> Result<(OrderLine, Mapped), RecordError> {
        map_as(&OrderItemMapper, rec, &Tables::default())
    }

    #[test]
    fn order_every_field() {
        let rec = order_base()
            .with("Name", "Spring order")
            .with("OrderNumber", "00000100")
            .with("Status", "Activated")
            .with("EffectiveDate", "2024-03-01")
            .with("ActivatedDate", "2024-03-02T09:30:00.000+0000")
            .with("TotalAmount", 2500.5)
            .with("CurrencyIsoCode", "usd")
            .with("BillingStreet", "1 Main St")
            .with("BillingCity", "Austin")
            .with("BillingState", "TX")
            .with("BillingPostalCode", "78701")
            .with("BillingCountry", "USA")
            .with("ShippingStreet", "2 Dock Rd")
            .with("ShippingCity", "Hamburg")
            .with("ShippingState", "HH")
            .with("ShippingPostalCode", "20457")
            .with("ShippingCountry", "Deutschland")
            .with("Description", "Rush")
            .with("BillToContactId", "003x0000004TmFk")
            .with("OpportunityId", "006x00000012345");
        let (o, m) = map_order(&rec, &Tables::default()).unwrap();
        assert_eq!(o.name.as_deref(), Some("Spring order"));
        assert_eq!(o.order_number.as_deref(), Some("00000100"));
        assert_eq!(o.status, OrderStatus::Activated);
        assert_eq!(o.order_date, NaiveDate::from_ymd_opt(2024, 3, 1));
        assert_eq!(
            o.activated_date,
            Some(Utc.with_ymd_and_hms(2024, 3, 2, 9, 30, 0).unwrap())
        );
        assert_eq!(o.total_amount, Some(dec("2500.5")));
        assert_eq!(o.currency.as_deref(), Some("USD"));
        let addr = |line: &str, city: &str, state: &str, pc: &str, country: &str| Address {
            line: Some(line.into()),
            city: Some(city.into()),
            state: Some(state.into()),
            postcode: Some(pc.into()),
            country: Some(country.into()),
        };
        assert_eq!(
            o.billing_address,
            addr("1 Main St", "Austin", "TX", "78701", "US")
        );
        assert_eq!(
            o.shipping_address,
            addr("2 Dock Rd", "Hamburg", "HH", "20457", "DE")
        );
        assert_eq!(o.description.as_deref(), Some("Rush"));
        assert_eq!(
            (&o.account, &o.contact, &o.opportunity),
            (&None, &None, &None)
        );
        assert!(o.custom_fields.is_empty());
        assert_eq!(m.sf_id.to_15(), "801x00000012345");
        assert_eq!(
            lookups(&m),
            [
                (
                    "AccountId",
                    SObject::ACCOUNT,
                    Link::Account,
                    Requirement::Required,
                    "001x0000002xLCV"
                ),
                (
                    "BillToContactId",
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
        assert_eq!(OrderMapper.imported_with(), None);
    }

    #[test]
    fn order_only_account_is_required() {
        let (o, m) = map_order(&order_base(), &Tables::default()).unwrap();
        assert_eq!(o.status, OrderStatus::Draft);
        assert_eq!((o.name, o.order_date, o.total_amount), (None, None, None));
        assert!(o.billing_address.is_empty() && o.shipping_address.is_empty());
        assert_eq!(m.lookups.len(), 1);
        assert!(m.warnings.is_empty());
    }

    #[test]
    fn every_order_status() {
        let cases = [
            ("Draft", OrderStatus::Draft),
            ("Activated", OrderStatus::Activated),
            ("Completed", OrderStatus::Completed),
            ("Cancelled", OrderStatus::Cancelled),
            ("Canceled", OrderStatus::Cancelled),
            ("ACTIVATED", OrderStatus::Activated),
            (" draft ", OrderStatus::Draft),
        ];
        for (sf, want) in cases {
            let (o, m) = map_order(&order_base().with("Status", sf), &Tables::default()).unwrap();
            assert_eq!(o.status, want, "{sf}");
            assert!(m.warnings.is_empty(), "{sf}");
        }
        let (o, m) =
            map_order(&order_base().with("Status", "Shipped"), &Tables::default()).unwrap();
        assert_eq!(o.status, OrderStatus::Draft, "unknown takes the default");
        assert_eq!(m.warnings.len(), 1);
        assert_eq!(m.warnings[0].field, "Status");
        assert!(
            matches!(&m.warnings[0].problem, Problem::UnknownValue { found, .. } if &**found == "Shipped")
        );
    }

    #[test]
    fn host_tables_override_order_status() {
        let mut tables = Tables::default();
        tables.order_status = tables
            .order_status
            .clone()
            .with("Shipped", OrderStatus::Completed);
        let (o, m) = map_order(&order_base().with("Status", "Shipped"), &tables).unwrap();
        assert_eq!(o.status, OrderStatus::Completed);
        assert!(m.warnings.is_empty());
        tables.order_status = tables.order_status.clone().with_default(None);
        let err = map_order(&order_base().with("Status", "Lost"), &tables).unwrap_err();
        assert_eq!(err.field, "Status");
    }

    #[test]
    fn order_bad_input_names_the_field() {
        let cases: &[(&str, serde_json::Value)] = &[
            ("AccountId", serde_json::Value::Null),
            ("AccountId", "not-an-id".into()),
            ("BillToContactId", "003".into()),
            ("OpportunityId", json!(6)),
            ("EffectiveDate", "2024-02-30".into()),
            ("ActivatedDate", "yesterday".into()),
            ("TotalAmount", "1e30".into()),
            ("TotalAmount", "lots".into()),
            ("Status", json!([])),
            ("Id", "801".into()),
        ];
        for (field, value) in cases {
            let err = map_order(&order_base().with(field, value.clone()), &Tables::default())
                .unwrap_err();
            assert_eq!(err.field, *field, "{field} = {value}");
            assert_eq!(err.object, SObject::ORDER);
        }
    }

    #[test]
    fn order_custom_fields_are_carried() {
        let tables =
            Tables::default().with_custom_field(CustomField::new(SObject::ORDER, "PO__c", "po"));
        let (o, _) = map_order(&order_base().with("PO__c", "PO-1"), &tables).unwrap();
        assert_eq!(o.custom_fields["po"].json(), r#""PO-1""#);
    }

    #[test]
    fn item_every_field() {
        let rec = item_base()
            .with("Product2Id", "01tx00000012345")
            .with("PricebookEntryId", "01ux00000012345")
            .with("Description", "Generator, installed")
            .with("ListPrice", 12)
            .with("TotalPrice", "31.50");
        let (l, m) = map_item(&rec).unwrap();
        assert_eq!(l.name.as_deref(), Some("Generator, installed"));
        assert_eq!(l.quantity, dec("3"));
        assert_eq!(l.unit_price, dec("10.50"));
        assert_eq!(l.discount_amount, dec("4.50"));
        assert_eq!(l.total, dec("31.50"));
        assert_eq!((&l.order, &l.product), (&None, &None));
        assert_eq!(m.sf_id.to_15(), "802x00000012345");
        assert_eq!(
            lookups(&m),
            [
                (
                    "OrderId",
                    SObject::ORDER,
                    Link::Order,
                    Requirement::Required,
                    "801x00000012345"
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
        assert_eq!(OrderItemMapper.imported_with(), Some(SObject::ORDER));
    }

    #[test]
    fn item_totals_and_discounts() {
        // (Quantity, UnitPrice, ListPrice, TotalPrice) -> (discount, total)
        let n = serde_json::Value::Null;
        let cases: &[(
            serde_json::Value,
            serde_json::Value,
            serde_json::Value,
            serde_json::Value,
            &str,
            &str,
        )] = &[
            (3.into(), "10.50".into(), n.clone(), n.clone(), "0", "31.50"),
            (
                3.into(),
                "10.50".into(),
                12.into(),
                n.clone(),
                "4.50",
                "31.50",
            ),
            (3.into(), "10.50".into(), 9.into(), n.clone(), "0", "31.50"),
            (
                3.into(),
                "10.50".into(),
                "10.50".into(),
                n.clone(),
                "0",
                "31.50",
            ),
            (3.into(), "10.50".into(), n.clone(), 30.into(), "0", "30"),
            (
                "0.5".into(),
                "99.99".into(),
                100.into(),
                n.clone(),
                "0.005",
                "49.995",
            ),
            (0.into(), 10.into(), 20.into(), n.clone(), "0", "0"),
            ((-2).into(), 10.into(), 20.into(), n.clone(), "0", "-20"),
            (1.into(), "-5".into(), 0.into(), n.clone(), "5", "-5"),
        ];
        for (q, u, l, t, discount, total) in cases {
            let rec = item_base()
                .with("Quantity", q.clone())
                .with("UnitPrice", u.clone())
                .with("ListPrice", l.clone())
                .with("TotalPrice", t.clone());
            let (line, _) = map_item(&rec).unwrap();
            assert_eq!(line.discount_amount, dec(discount), "{q} {u} {l} {t}");
            assert_eq!(line.total, dec(total), "{q} {u} {l} {t}");
        }
    }

    #[test]
    fn item_overflow_is_out_of_range() {
        let big = "999999999999999999";
        let err = map_item(&item_base().with("Quantity", big).with("UnitPrice", big)).unwrap_err();
        assert_eq!(err.field, "TotalPrice");
        assert!(matches!(err.problem, Problem::OutOfRange { .. }), "{err}");
        // Fits Decimal, but past the amount range.
        let err = map_item(
            &item_base()
                .with("Quantity", 1_000_000_000)
                .with("UnitPrice", 1_000_000_000),
        )
        .unwrap_err();
        assert_eq!(err.field, "TotalPrice");
        let rec = item_base()
            .with("Quantity", big)
            .with("UnitPrice", format!("-{big}"))
            .with("ListPrice", big)
            .with("TotalPrice", 1);
        let err = map_item(&rec).unwrap_err();
        assert_eq!(err.field, "ListPrice");
        assert!(matches!(err.problem, Problem::OutOfRange { .. }), "{err}");
    }

    #[test]
    fn item_bad_input_names_the_field() {
        let cases: &[(&str, serde_json::Value)] = &[
            ("Quantity", serde_json::Value::Null),
            ("Quantity", "".into()),
            ("Quantity", "lots".into()),
            ("Quantity", "1e30".into()),
            ("UnitPrice", serde_json::Value::Null),
            ("UnitPrice", "1e30".into()),
            ("ListPrice", "cheap".into()),
            ("TotalPrice", "1e30".into()),
            ("OrderId", serde_json::Value::Null),
            ("OrderId", "801".into()),
            ("Product2Id", "01t-bad".into()),
            ("PricebookEntryId", json!({})),
            ("Description", json!({})),
            ("Id", "".into()),
        ];
        for (field, value) in cases {
            let err = map_item(&item_base().with(field, value.clone())).unwrap_err();
            assert_eq!(err.field, *field, "{field} = {value}");
            assert_eq!(err.object, SObject::ORDER_ITEM);
        }
        let err = map_item(&item_base().with("Quantity", serde_json::Value::Null)).unwrap_err();
        assert_eq!(err.problem, Problem::Missing);
    }

    #[test]
    fn item_without_product_keeps_order_lookup_only() {
        let (_, m) = map_item(&item_base()).unwrap();
        assert_eq!(lookups(&m).len(), 1);
        assert_eq!(m.lookups[0].spec.link, Link::Order);
    }
}
