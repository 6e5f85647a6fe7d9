//! Account -> [`crm::Account`](crate::crm::Account).

use super::{AddressPrefix, LookupSpec, Mapped, Mapper, Reader, Tables};
use crate::crm::{Account, CrmRecord, Link};
use crate::error::RecordError;
use crate::object::SObject;
use crate::record::SfRecord;

/// Maps `Account`. `ParentId` is an optional lookup to another account,
/// resolved in a second pass when the parent comes later.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountMapper;

const FIELDS: &[&str] = &[
    "Id",
    "Name",
    "Phone",
    "Website",
    "Industry",
    "Type",
    "NumberOfEmployees",
    "AnnualRevenue",
    "CurrencyIsoCode",
    "BillingStreet",
    "BillingCity",
    "BillingState",
    "BillingPostalCode",
    "BillingCountry",
    "Description",
    "ParentId",
];

const LOOKUPS: &[LookupSpec] = &[LookupSpec::optional(
    "ParentId",
    SObject::ACCOUNT,
    Link::ParentAccount,
)];

impl Mapper for AccountMapper {
    fn object(&self) -> SObject {
        SObject::ACCOUNT
    }

    fn fields(&self) -> &[&'static str] {
        FIELDS
    }

    fn lookups(&self) -> &[LookupSpec] {
        LOOKUPS
    }

    fn map(&self, record: &SfRecord, tables: &Tables) -> Result<Mapped, RecordError> {
        let mut r = Reader::new(SObject::ACCOUNT, record, tables)?;
        let employees = r.integer("NumberOfEmployees")?;
        if let Some(n) = employees.filter(|n| *n < 0) {
            return Err(r.error(
                "NumberOfEmployees",
                crate::error::Problem::OutOfRange {
                    found: n.to_string().into(),
                },
            ));
        }
        let account = Account {
            name: r.required_text("Name")?,
            // Account has no standard email field; hosts map one through custom fields.
            email: None,
            phone: r.phone("Phone")?,
            website: r.text("Website")?,
            industry: r.text("Industry")?,
            account_type: r.text("Type")?,
            number_of_employees: employees,
            annual_revenue: r.amount("AnnualRevenue")?,
            currency: r.currency("CurrencyIsoCode")?,
            address: r.address(AddressPrefix::Billing)?,
            description: r.long_text("Description")?,
            parent: None,
            custom_fields: r.custom_fields(),
        };
        r.finish(CrmRecord::Account(account), LOOKUPS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::Address;
    use crate::error::Problem;
    use crate::mapping::CustomField;
    use crate::mapping::testutil::*;

    fn base() -> SfRecord {
        SfRecord::new(SObject::ACCOUNT)
            .with("Id", "001x0000002xLCVAA2")
            .with("Name", "Gravity Investments")
    }

    fn map(rec: &SfRecord) -> Result<Account, RecordError> {
        map_with(rec, &Tables::default()).map(|(a, _)| a)
    }

    fn map_with(rec: &SfRecord, tables: &Tables) -> Result<(Account, Mapped), RecordError> {
        map_as(&AccountMapper, rec, tables)
    }

    #[test]
    fn every_field() {
        let rec = base()
            .with("Phone", "(336) 222-7000")
            .with("Website", "https://gravity.example")
            .with("Industry", "Finance")
            .with("Type", "Customer - Direct")
            .with("NumberOfEmployees", 120)
            .with("AnnualRevenue", serde_json::json!(5600000000u64))
            .with("CurrencyIsoCode", "usd")
            .with("BillingStreet", "150 Palmer Drive\nSuite 4")
            .with("BillingCity", "Fort Collins")
            .with("BillingState", "CO")
            .with("BillingPostalCode", "80525")
            .with("BillingCountry", "U.S.")
            .with("Description", "Long text")
            .with("ParentId", "001x0000002xLCW");
        let (a, m) = map_with(&rec, &Tables::default()).unwrap();
        assert_eq!(a.name, "Gravity Investments");
        assert_eq!(a.phone.as_deref(), Some("(336) 222-7000"));
        assert_eq!(a.website.as_deref(), Some("https://gravity.example"));
        assert_eq!(a.industry.as_deref(), Some("Finance"));
        assert_eq!(a.account_type.as_deref(), Some("Customer - Direct"));
        assert_eq!(a.number_of_employees, Some(120));
        assert_eq!(a.annual_revenue, Some("5600000000".parse().unwrap()));
        assert_eq!(a.currency.as_deref(), Some("USD"));
        assert_eq!(
            a.address,
            Address {
                line: Some("150 Palmer Drive\nSuite 4".into()),
                city: Some("Fort Collins".into()),
                state: Some("CO".into()),
                postcode: Some("80525".into()),
                country: Some("US".into()),
            }
        );
        assert_eq!(a.description.as_deref(), Some("Long text"));
        assert_eq!(a.parent, None, "links are resolved by the engine");
        assert_eq!(m.lookups.len(), 1);
        assert_eq!(m.lookups[0].sf_id.as_str(), "001x0000002xLCWAA2");
        assert_eq!(m.lookups[0].spec.link, Link::ParentAccount);
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    }

    #[test]
    fn only_name_is_required() {
        let a = map(&base()).unwrap();
        assert_eq!(a.name, "Gravity Investments");
        assert!(a.address.is_empty());
        assert_eq!(a.number_of_employees, None);
    }

    #[test]
    fn bad_input_names_the_field() {
        let cases: &[(&str, serde_json::Value)] = &[
            ("Name", serde_json::Value::Null),
            ("Name", "   ".into()),
            ("NumberOfEmployees", "many".into()),
            ("NumberOfEmployees", (-5).into()),
            ("AnnualRevenue", "1e30".into()),
            ("AnnualRevenue", "lots".into()),
            ("ParentId", "not-an-id".into()),
            ("Id", "001".into()),
        ];
        for (field, value) in cases {
            let err = map(&base().with(field, value.clone())).unwrap_err();
            assert_eq!(err.field, *field, "{field} = {value}");
            assert_eq!(err.object, SObject::ACCOUNT);
            assert!(err.to_string().contains(field));
        }
        let err = map(&base().with("Name", serde_json::Value::Null)).unwrap_err();
        assert_eq!(err.problem, Problem::Missing);
        assert_eq!(err.sf_id.unwrap().as_str(), "001x0000002xLCVAA2");
    }

    #[test]
    fn repairs_are_warnings() {
        let rec = base()
            .with("Phone", "+1 415 555 0100 extension 12345")
            .with("BillingCountry", "Atlantis");
        let (a, m) = map_with(&rec, &Tables::default()).unwrap();
        assert_eq!(a.phone.as_deref().map(str::len), Some(20));
        assert_eq!(a.address.country, None);
        let fields: Vec<_> = m.warnings.iter().map(|w| w.field.as_ref()).collect();
        assert_eq!(fields, ["Phone", "BillingCountry"]);
    }

    #[test]
    fn custom_fields_are_carried() {
        let tables = Tables::default()
            .with_custom_field(CustomField::new(SObject::ACCOUNT, "Region__c", "region"))
            .with_custom_field(CustomField::new(SObject::CONTACT, "Other__c", "other"));
        let rec = base().with("Region__c", "EMEA");
        let (a, _) = map_with(&rec, &tables).unwrap();
        assert_eq!(a.custom_fields.len(), 1);
        assert_eq!(a.custom_fields["region"].json(), r#""EMEA""#);
    }

    #[test]
    fn non_ascii_names_survive() {
        let a = map(&base().with("Name", "Müller & Söhne GmbH — 東京")).unwrap();
        assert_eq!(a.name, "Müller & Söhne GmbH — 東京");
    }
}
