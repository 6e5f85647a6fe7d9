//! Product2 -> [`crm::Product`](crate::crm::Product), and PricebookEntry ->
//! [`crm::ProductPrice`](crate::crm::ProductPrice).

use super::{LookupSpec, Mapped, Mapper, Reader, Tables};
use crate::crm::{CrmRecord, Link, Product, ProductPrice};
use crate::error::{Problem, RecordError};
use crate::object::SObject;
use crate::record::SfRecord;

/// Maps `Product2`. The price is left empty: the standard price book's
/// entry sets it (see [`PricebookEntryMapper`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProductMapper;

const PRODUCT_FIELDS: &[&str] = &[
    "Id",
    "Name",
    "ProductCode",
    "Description",
    "IsActive",
    "Family",
    "CurrencyIsoCode",
];

impl Mapper for ProductMapper {
    fn object(&self) -> SObject {
        SObject::PRODUCT2
    }

    fn fields(&self) -> &[&'static str] {
        PRODUCT_FIELDS
    }

    fn lookups(&self) -> &[LookupSpec] {
        &[]
    }

    fn map(&self, record: &SfRecord, tables: &Tables) -> Result<Mapped, RecordError> {
        let mut r = Reader::new(SObject::PRODUCT2, record, tables)?;
        let product = Product {
            name: r.required_text("Name")?,
            sku: r.text("ProductCode")?,
            description: r.long_text("Description")?,
            is_active: r.boolean("IsActive")?.unwrap_or(false),
            family: r.text("Family")?,
            price: None,
            currency: r.currency("CurrencyIsoCode")?,
            custom_fields: r.custom_fields(),
        };
        r.finish(CrmRecord::Product(product), &[])
    }
}

/// Maps `PricebookEntry`, imported with `Product2`. Every entry maps to
/// its product (so that order and quote lines naming the entry find the
/// product); only the standard price book's entry carries the price.
#[derive(Debug, Clone, Copy, Default)]
pub struct PricebookEntryMapper;

const ENTRY_FIELDS: &[&str] = &[
    "Id",
    "Product2Id",
    "Pricebook2Id",
    "UnitPrice",
    "CurrencyIsoCode",
    "IsActive",
    "Pricebook2.IsStandard",
];

const ENTRY_LOOKUPS: &[LookupSpec] = &[LookupSpec::required(
    "Product2Id",
    SObject::PRODUCT2,
    Link::Product,
)];

impl Mapper for PricebookEntryMapper {
    fn object(&self) -> SObject {
        SObject::PRICEBOOK_ENTRY
    }

    fn fields(&self) -> &[&'static str] {
        ENTRY_FIELDS
    }

    fn lookups(&self) -> &[LookupSpec] {
        ENTRY_LOOKUPS
    }

    fn imported_with(&self) -> Option<SObject> {
        Some(SObject::PRODUCT2)
    }

    fn map(&self, record: &SfRecord, tables: &Tables) -> Result<Mapped, RecordError> {
        let mut r = Reader::new(SObject::PRICEBOOK_ENTRY, record, tables)?;
        let unit_price = r
            .amount("UnitPrice")?
            .ok_or_else(|| r.error("UnitPrice", Problem::Missing))?;
        // Validated even though the id itself is not kept: the price book
        // only decides whether the price is the product's list price.
        record
            .sf_id("Pricebook2Id")
            .map_err(|e| r.error(e.field, e.problem))?;
        let is_standard = r.boolean("Pricebook2.IsStandard")?.unwrap_or(false);
        let entry = ProductPrice {
            product: None,
            price: is_standard.then_some(unit_price),
            currency: r.currency("CurrencyIsoCode")?,
            is_active: r.boolean("IsActive")?.unwrap_or(false),
        };
        r.finish(CrmRecord::ProductPrice(entry), ENTRY_LOOKUPS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::testutil::*;
    use crate::mapping::{CustomField, Requirement};
    use serde_json::json;

    fn product_base() -> SfRecord {
        SfRecord::new(SObject::PRODUCT2)
            .with("Id", "01tx00000012345")
            .with("Name", "GenWatt Diesel 1000kW")
    }

    fn map_product(rec: &SfRecord) -> Result<(Product, Mapped), RecordError> {
        map_as(&ProductMapper, rec, &Tables::default())
    }

    fn entry_base() -> SfRecord {
        SfRecord::new(SObject::PRICEBOOK_ENTRY)
            .with("Id", "01ux00000012345")
            .with("Product2Id", "01tx00000012345")
            .with("UnitPrice", 100000)
    }

    fn map_entry(rec: &SfRecord) -> Result<(ProductPrice, Mapped), RecordError> {
        map_as(&PricebookEntryMapper, rec, &Tables::default())
    }

    #[test]
    fn product_every_field() {
        let rec = product_base()
            .with("ProductCode", "GC1020")
            .with("Description", "Diesel generator")
            .with("IsActive", true)
            .with("Family", "Generators")
            .with("CurrencyIsoCode", "gbp");
        let (p, m) = map_product(&rec).unwrap();
        assert_eq!(p.name, "GenWatt Diesel 1000kW");
        assert_eq!(p.sku.as_deref(), Some("GC1020"));
        assert_eq!(p.description.as_deref(), Some("Diesel generator"));
        assert!(p.is_active);
        assert_eq!(p.family.as_deref(), Some("Generators"));
        assert_eq!(p.price, None, "set by the price book entries");
        assert_eq!(p.currency.as_deref(), Some("GBP"));
        assert!(p.custom_fields.is_empty());
        assert_eq!(m.sf_id.to_15(), "01tx00000012345");
        assert!(m.lookups.is_empty());
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        assert_eq!(ProductMapper.imported_with(), None);
        assert!(ProductMapper.lookups().is_empty());
    }

    #[test]
    fn product_only_name_is_required() {
        let (p, _) = map_product(&product_base()).unwrap();
        assert!(!p.is_active, "absent IsActive is false");
        assert_eq!(
            (p.sku, p.family, p.price, p.currency),
            (None, None, None, None)
        );
    }

    #[test]
    fn product_bad_input_names_the_field() {
        let cases: &[(&str, serde_json::Value)] = &[
            ("Name", serde_json::Value::Null),
            ("Name", "  ".into()),
            ("IsActive", "yes please".into()),
            ("ProductCode", json!({})),
            ("Id", "01t".into()),
        ];
        for (field, value) in cases {
            let err = map_product(&product_base().with(field, value.clone())).unwrap_err();
            assert_eq!(err.field, *field, "{field} = {value}");
            assert_eq!(err.object, SObject::PRODUCT2);
        }
    }

    #[test]
    fn product_custom_fields_are_carried() {
        let tables = Tables::default().with_custom_field(CustomField::new(
            SObject::PRODUCT2,
            "Weight__c",
            "weight",
        ));
        let m = ProductMapper
            .map(&product_base().with("Weight__c", 12.5), &tables)
            .unwrap();
        let CrmRecord::Product(p) = m.record else {
            panic!()
        };
        assert_eq!(p.custom_fields["weight"].json(), "12.5");
    }

    #[test]
    fn custom_numbers_and_text_arrive_exact_or_with_a_warning() {
        let tables = Tables::default()
            .with_custom_field(CustomField::new(SObject::PRODUCT2, "Big__c", "big"))
            .with_custom_field(CustomField::new(SObject::PRODUCT2, "Huge__c", "huge"))
            .with_custom_field(CustomField::new(SObject::PRODUCT2, "Note__c", "note"));
        let json = r#"{"attributes": {"type": "Product2"}, "Id": "01t000000000001AAA",
            "Name": "Gen", "Big__c": 999999999999999999.99, "Huge__c": 1e400,
            "Note__c": "x\ud800y"}"#;
        let m = ProductMapper
            .map(&SfRecord::from_json(json).unwrap(), &tables)
            .unwrap();
        let CrmRecord::Product(p) = m.record else {
            panic!()
        };
        // Numbers exactly as sent, still numbers; the text repaired.
        assert_eq!(p.custom_fields["big"].json(), "999999999999999999.99");
        assert_eq!(p.custom_fields["huge"].json(), "1e400");
        assert_eq!(
            p.custom_fields["big"].as_decimal().unwrap().to_string(),
            "999999999999999999.99"
        );
        assert_eq!(
            p.custom_fields["note"].as_text().as_deref(),
            Some("x\u{FFFD}y")
        );
        let fields: Vec<&str> = m.warnings.iter().map(|w| w.field.as_ref()).collect();
        assert_eq!(fields, ["Note__c"], "{:?}", m.warnings);
    }

    #[test]
    fn entry_is_imported_with_products() {
        assert_eq!(
            PricebookEntryMapper.imported_with(),
            Some(SObject::PRODUCT2)
        );
        assert!(
            PricebookEntryMapper
                .fields()
                .contains(&"Pricebook2.IsStandard")
        );
    }

    #[test]
    fn standard_entry_sets_the_price() {
        let rec = entry_base()
            .with("Pricebook2Id", "01sx00000012345")
            .with("UnitPrice", "1300.10")
            .with("CurrencyIsoCode", "USD")
            .with("IsActive", true)
            .with(
                "Pricebook2",
                json!({"attributes": {"type": "Pricebook2"}, "IsStandard": true}),
            );
        let (e, m) = map_entry(&rec).unwrap();
        assert_eq!(e.price, Some(dec("1300.10")));
        assert_eq!(e.currency.as_deref(), Some("USD"));
        assert!(e.is_active);
        assert_eq!(e.product, None, "resolved by the engine");
        assert_eq!(m.sf_id.to_15(), "01ux00000012345");
        assert_eq!(m.lookups.len(), 1);
        let l = &m.lookups[0];
        assert_eq!(l.sf_id.to_15(), "01tx00000012345");
        assert_eq!(l.spec.field, "Product2Id");
        assert_eq!(l.spec.target, SObject::PRODUCT2);
        assert_eq!(l.spec.link, Link::Product);
        assert_eq!(l.spec.requirement, Requirement::Required);
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    }

    #[test]
    fn other_entries_only_link_the_product() {
        let cases: &[serde_json::Value] = &[
            json!({"IsStandard": false}),
            json!({"IsStandard": "false"}),
            json!({}),
            serde_json::Value::Null,
        ];
        for pricebook in cases {
            let (e, m) = map_entry(&entry_base().with("Pricebook2", pricebook.clone())).unwrap();
            assert_eq!(e.price, None, "{pricebook}");
            assert!(!e.is_active, "absent IsActive is false");
            assert_eq!(m.lookups.len(), 1);
        }
        let (e, _) = map_entry(&entry_base()).unwrap();
        assert_eq!(e.price, None, "no Pricebook2 at all");
        let (e, _) =
            map_entry(&entry_base().with("Pricebook2", json!({"IsStandard": "TRUE"}))).unwrap();
        assert_eq!(e.price, Some(dec("100000")));
    }

    #[test]
    fn entry_bad_input_names_the_field() {
        let cases: &[(&str, serde_json::Value)] = &[
            ("UnitPrice", serde_json::Value::Null),
            ("UnitPrice", "".into()),
            ("UnitPrice", "1e30".into()),
            ("UnitPrice", "lots".into()),
            ("IsActive", "sometimes".into()),
            ("Product2Id", "not-an-id".into()),
            ("Pricebook2Id", "01s".into()),
            ("Id", "01u!x0000012345".into()),
        ];
        for (field, value) in cases {
            let err = map_entry(&entry_base().with(field, value.clone())).unwrap_err();
            assert_eq!(err.field, *field, "{field} = {value}");
            assert_eq!(err.object, SObject::PRICEBOOK_ENTRY);
        }
        let err = map_entry(&entry_base().with("UnitPrice", serde_json::Value::Null)).unwrap_err();
        assert_eq!(err.problem, Problem::Missing);
        let err = map_entry(&entry_base().with("Pricebook2", json!({"IsStandard": "perhaps"})))
            .unwrap_err();
        assert_eq!(err.field, "Pricebook2.IsStandard");
    }

    #[test]
    fn entry_without_product_is_an_error() {
        let mut rec = entry_base();
        rec.remove("Product2Id");
        let err = map_entry(&rec).unwrap_err();
        assert_eq!(
            (err.field.as_ref(), err.problem),
            ("Product2Id", Problem::Missing)
        );
        let err = map_entry(&entry_base().with("Product2Id", " ")).unwrap_err();
        assert_eq!(err.field, "Product2Id");
    }
}
