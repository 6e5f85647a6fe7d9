//! Contact -> [`crm::Contact`](crate::crm::Contact).

use super::{AddressPrefix, LookupSpec, Mapped, Mapper, Reader, Tables};
use crate::crm::{Contact, CrmRecord, Link};
use crate::error::RecordError;
use crate::object::SObject;
use crate::record::SfRecord;

/// Maps `Contact`. `LastName` is required; `AccountId` is an optional
/// lookup to the contact's account.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContactMapper;

const FIELDS: &[&str] = &[
    "Id",
    "FirstName",
    "LastName",
    "Email",
    "Phone",
    "Title",
    "Department",
    "DoNotCall",
    "MailingStreet",
    "MailingCity",
    "MailingState",
    "MailingPostalCode",
    "MailingCountry",
    "Description",
    "AccountId",
];

const LOOKUPS: &[LookupSpec] = &[LookupSpec::optional(
    "AccountId",
    SObject::ACCOUNT,
    Link::Account,
)];

impl Mapper for ContactMapper {
    fn object(&self) -> SObject {
        SObject::CONTACT
    }

    fn fields(&self) -> &[&'static str] {
        FIELDS
    }

    fn lookups(&self) -> &[LookupSpec] {
        LOOKUPS
    }

    fn map(&self, record: &SfRecord, tables: &Tables) -> Result<Mapped, RecordError> {
        let mut r = Reader::new(SObject::CONTACT, record, tables)?;
        let contact = Contact {
            first_name: r.text("FirstName")?,
            last_name: r.required_text("LastName")?,
            email: r.email("Email")?,
            phone: r.phone("Phone")?,
            title: r.text("Title")?,
            department: r.text("Department")?,
            do_not_call: r.boolean("DoNotCall")?.unwrap_or(false),
            address: r.address(AddressPrefix::Mailing)?,
            description: r.long_text("Description")?,
            account: None,
            custom_fields: r.custom_fields(),
        };
        r.finish(CrmRecord::Contact(contact), LOOKUPS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::Address;
    use crate::error::Problem;
    use crate::mapping::testutil::*;
    use crate::mapping::{CustomField, Requirement};

    fn base() -> SfRecord {
        SfRecord::new(SObject::CONTACT)
            .with("Id", "003x0000004TmFk")
            .with("LastName", "Lovelace")
    }

    fn map(rec: &SfRecord) -> Result<Contact, RecordError> {
        map_with(rec, &Tables::default()).map(|(c, _)| c)
    }

    fn map_with(rec: &SfRecord, tables: &Tables) -> Result<(Contact, Mapped), RecordError> {
        map_as(&ContactMapper, rec, tables)
    }

    #[test]
    fn every_field() {
        let rec = base()
            .with("FirstName", " Ada ")
            .with("Email", "ada@example.com")
            .with("Phone", "+44 20 7946 0000")
            .with("Title", "Analyst")
            .with("Department", "Engines")
            .with("DoNotCall", true)
            .with("MailingStreet", "12 St James's Square\nFlat 2")
            .with("MailingCity", "London")
            .with("MailingState", "Greater London")
            .with("MailingPostalCode", "SW1Y 4JH")
            .with("MailingCountry", "United Kingdom")
            .with("Description", "  First programmer.  ")
            .with("AccountId", "001x0000002xLCV");
        let (c, m) = map_with(&rec, &Tables::default()).unwrap();
        assert_eq!(c.first_name.as_deref(), Some("Ada"));
        assert_eq!(c.last_name, "Lovelace");
        assert_eq!(c.email.as_deref(), Some("ada@example.com"));
        assert_eq!(c.phone.as_deref(), Some("+44 20 7946 0000"));
        assert_eq!(c.title.as_deref(), Some("Analyst"));
        assert_eq!(c.department.as_deref(), Some("Engines"));
        assert!(c.do_not_call);
        assert_eq!(
            c.address,
            Address {
                line: Some("12 St James's Square\nFlat 2".into()),
                city: Some("London".into()),
                state: Some("Greater London".into()),
                postcode: Some("SW1Y 4JH".into()),
                country: Some("GB".into()),
            }
        );
        assert_eq!(
            c.description.as_deref(),
            Some("  First programmer.  "),
            "long text kept whole"
        );
        assert_eq!(c.account, None, "links are resolved by the engine");
        assert!(c.custom_fields.is_empty());
        assert_eq!(m.sf_id.to_15(), "003x0000004TmFk");
        assert_eq!(m.lookups.len(), 1);
        let l = &m.lookups[0];
        assert_eq!(l.sf_id.to_15(), "001x0000002xLCV");
        assert_eq!(l.spec.field, "AccountId");
        assert_eq!(l.spec.target, SObject::ACCOUNT);
        assert_eq!(l.spec.link, Link::Account);
        assert_eq!(l.spec.requirement, Requirement::Optional);
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    }

    #[test]
    fn only_last_name_is_required() {
        let (c, m) = map_with(&base(), &Tables::default()).unwrap();
        assert_eq!(c.last_name, "Lovelace");
        assert_eq!(c.first_name, None);
        assert_eq!(c.email, None);
        assert!(!c.do_not_call, "absent DoNotCall is false");
        assert!(c.address.is_empty());
        assert!(m.lookups.is_empty());
        assert!(m.warnings.is_empty());
    }

    #[test]
    fn do_not_call_spellings() {
        let cases: &[(serde_json::Value, bool)] = &[
            (true.into(), true),
            (false.into(), false),
            ("true".into(), true),
            ("1".into(), true),
            ("0".into(), false),
            (serde_json::Value::Null, false),
            ("".into(), false),
        ];
        for (value, want) in cases {
            let c = map(&base().with("DoNotCall", value.clone())).unwrap();
            assert_eq!(c.do_not_call, *want, "{value}");
        }
    }

    #[test]
    fn bad_input_names_the_field() {
        let cases: &[(&str, serde_json::Value)] = &[
            ("LastName", serde_json::Value::Null),
            ("LastName", "   ".into()),
            ("LastName", serde_json::json!({})),
            ("DoNotCall", "maybe".into()),
            ("FirstName", serde_json::json!([1])),
            ("AccountId", "not-an-id".into()),
            ("AccountId", "001x0000002xLCVZZZ".into()),
            ("Id", "003".into()),
            ("Id", serde_json::Value::Null),
        ];
        for (field, value) in cases {
            let err = map(&base().with(field, value.clone())).unwrap_err();
            assert_eq!(err.field, *field, "{field} = {value}");
            assert_eq!(err.object, SObject::CONTACT);
            assert!(err.to_string().contains(field));
        }
        let err = map(&base().with("LastName", "")).unwrap_err();
        assert_eq!(err.problem, Problem::Missing);
        assert_eq!(err.sf_id.unwrap().to_15(), "003x0000004TmFk");
    }

    #[test]
    fn repairs_are_warnings() {
        let rec = base()
            .with("Phone", "+1 415 555 0100 extension 12345")
            .with("Email", "not an email")
            .with("MailingCountry", "Atlantis")
            .with("Title", "T".repeat(300));
        let (c, m) = map_with(&rec, &Tables::default()).unwrap();
        assert_eq!(c.phone.as_deref().map(str::len), Some(20));
        assert_eq!(c.email, None);
        assert_eq!(c.address.country, None);
        assert_eq!(c.title.as_deref().map(str::len), Some(255));
        let fields: Vec<_> = m.warnings.iter().map(|w| w.field.as_ref()).collect();
        assert_eq!(fields, ["Email", "Phone", "Title", "MailingCountry"]);
    }

    #[test]
    fn country_code_field_wins() {
        let rec = base()
            .with("MailingCountryCode", "de")
            .with("MailingCountry", "France");
        assert_eq!(map(&rec).unwrap().address.country.as_deref(), Some("DE"));
    }

    #[test]
    fn custom_fields_are_carried() {
        let tables = Tables::default()
            .with_custom_field(CustomField::new(
                SObject::CONTACT,
                "Nickname__c",
                "nickname",
            ))
            .with_custom_field(CustomField::new(SObject::ACCOUNT, "Region__c", "region"));
        let rec = base().with("Nickname__c", "Ada").with("Region__c", "EMEA");
        let (c, _) = map_with(&rec, &tables).unwrap();
        assert_eq!(c.custom_fields.len(), 1);
        assert_eq!(c.custom_fields["nickname"].json(), r#""Ada""#);
    }

    #[test]
    fn non_ascii_names_survive() {
        let c = map(&base().with("FirstName", "Zoë").with("LastName", "東京")).unwrap();
        assert_eq!(c.first_name.as_deref(), Some("Zoë"));
        assert_eq!(c.last_name, "東京");
    }
}
