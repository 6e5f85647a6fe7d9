//! Opportunity -> [`crm::Opportunity`](crate::crm::Opportunity).

use super::{LookupSpec, Mapped, Mapper, Reader, Tables};
use crate::crm::{CrmRecord, Link, Opportunity};
use crate::error::RecordError;
use crate::object::SObject;
use crate::record::SfRecord;

/// Maps `Opportunity`. `StageName` goes through
/// [`Tables::opportunity_stage`]; a record without a `Probability` takes
/// the stage's default probability.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpportunityMapper;

const FIELDS: &[&str] = &[
    "Id",
    "Name",
    "StageName",
    "Probability",
    "Amount",
    "CloseDate",
    "LeadSource",
    "Type",
    "CurrencyIsoCode",
    "Description",
    "AccountId",
    "ContactId",
];

const LOOKUPS: &[LookupSpec] = &[
    LookupSpec::optional("AccountId", SObject::ACCOUNT, Link::Account),
    LookupSpec::optional("ContactId", SObject::CONTACT, Link::Contact),
];

impl Mapper for OpportunityMapper {
    fn object(&self) -> SObject {
        SObject::OPPORTUNITY
    }

    fn fields(&self) -> &[&'static str] {
        FIELDS
    }

    fn lookups(&self) -> &[LookupSpec] {
        LOOKUPS
    }

    fn map(&self, record: &SfRecord, tables: &Tables) -> Result<Mapped, RecordError> {
        let mut r = Reader::new(SObject::OPPORTUNITY, record, tables)?;
        let name = r.required_text("Name")?;
        let stage = r.picklist("StageName", &tables.opportunity_stage)?;
        let probability = r.percent("Probability")?.unwrap_or(stage.probability);
        let opportunity = Opportunity {
            name,
            stage: stage.stage,
            amount: r.amount("Amount")?,
            probability: Some(probability),
            closed_on: r.date("CloseDate")?,
            lead_source: r.text("LeadSource")?,
            opportunity_type: r.text("Type")?,
            currency: r.currency("CurrencyIsoCode")?,
            description: r.long_text("Description")?,
            account: None,
            contact: None,
            custom_fields: r.custom_fields(),
        };
        r.finish(CrmRecord::Opportunity(opportunity), LOOKUPS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::OpportunityStage as S;
    use crate::error::Problem;
    use crate::mapping::testutil::*;
    use crate::mapping::{CustomField, Requirement, StageMapping};
    use chrono::NaiveDate;
    use rust_decimal::Decimal;

    fn base() -> SfRecord {
        SfRecord::new(SObject::OPPORTUNITY)
            .with("Id", "006x00000012345")
            .with("Name", "Gravity - 200 licences")
    }

    fn map(rec: &SfRecord) -> Result<Opportunity, RecordError> {
        map_with(rec, &Tables::default()).map(|(o, _)| o)
    }

    fn map_with(rec: &SfRecord, tables: &Tables) -> Result<(Opportunity, Mapped), RecordError> {
        map_as(&OpportunityMapper, rec, tables)
    }

    #[test]
    fn a_close_date_given_as_a_datetime_keeps_its_utc_date_with_a_warning() {
        let rec = base().with("CloseDate", "2024-01-31T23:30:00.000-0500");
        let (o, m) = map_with(&rec, &Tables::default()).unwrap();
        assert_eq!(
            o.closed_on,
            NaiveDate::from_ymd_opt(2024, 2, 1),
            "the UTC date"
        );
        assert_eq!(m.warnings.len(), 1, "{:?}", m.warnings);
        assert_eq!(m.warnings[0].field, "CloseDate");
        assert_eq!(
            m.warnings[0].problem,
            Problem::TimeDropped {
                found: "2024-01-31T23:30:00.000-0500".into(),
                used: "2024-02-01".into(),
            }
        );
        let said = m.warnings[0].problem.to_string();
        assert!(
            said.contains("time and offset were dropped") && said.contains("2024-02-01"),
            "{said}"
        );
        // A plain date is no warning.
        let (_, m) = map_with(&base().with("CloseDate", "2024-01-31"), &Tables::default()).unwrap();
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    }

    #[test]
    fn every_field() {
        let rec = base()
            .with("StageName", "Negotiation/Review")
            .with("Probability", 85)
            .with("Amount", serde_json::json!(1300.10))
            .with("CloseDate", "2024-01-31")
            .with("LeadSource", "Web")
            .with("Type", "New Customer")
            .with("CurrencyIsoCode", "EUR")
            .with("Description", "Big one")
            .with("AccountId", "001x0000002xLCV")
            .with("ContactId", "003x0000004TmFk");
        let (o, m) = map_with(&rec, &Tables::default()).unwrap();
        assert_eq!(o.name, "Gravity - 200 licences");
        assert_eq!(o.stage, S::Negotiation);
        assert_eq!(
            o.probability,
            Some(dec("85")),
            "the record's own probability wins"
        );
        assert_eq!(o.amount, Some(dec("1300.10")));
        assert_eq!(o.closed_on, NaiveDate::from_ymd_opt(2024, 1, 31));
        assert_eq!(o.lead_source.as_deref(), Some("Web"));
        assert_eq!(o.opportunity_type.as_deref(), Some("New Customer"));
        assert_eq!(o.currency.as_deref(), Some("EUR"));
        assert_eq!(o.description.as_deref(), Some("Big one"));
        assert_eq!((o.account.as_ref(), o.contact.as_ref()), (None, None));
        assert!(o.custom_fields.is_empty());
        assert_eq!(m.sf_id.to_15(), "006x00000012345");
        let got = lookups(&m);
        assert_eq!(
            got,
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
            ]
        );
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    }

    #[test]
    fn only_name_is_required() {
        let (o, m) = map_with(&base(), &Tables::default()).unwrap();
        assert_eq!(o.stage, S::Prospecting, "no stage takes the default");
        assert_eq!(o.probability, Some(dec("10")));
        assert_eq!(o.amount, None);
        assert_eq!(o.closed_on, None);
        assert!(m.lookups.is_empty());
        assert!(m.warnings.is_empty(), "a blank stage is not a warning");
    }

    #[test]
    fn every_standard_stage_with_its_probability() {
        let cases = [
            ("Prospecting", S::Prospecting, 10),
            ("Qualification", S::Qualification, 10),
            ("Needs Analysis", S::Qualification, 20),
            ("Value Proposition", S::Proposal, 50),
            ("Id. Decision Makers", S::Proposal, 60),
            ("Perception Analysis", S::Proposal, 70),
            ("Proposal/Price Quote", S::Proposal, 75),
            ("Negotiation/Review", S::Negotiation, 90),
            ("Closed Won", S::ClosedWon, 100),
            ("Closed Lost", S::ClosedLost, 0),
        ];
        for (sf, stage, p) in cases {
            for spelling in [sf.to_owned(), sf.to_uppercase(), format!("  {sf} ")] {
                let (o, m) = map_with(
                    &base().with("StageName", spelling.as_str()),
                    &Tables::default(),
                )
                .unwrap();
                assert_eq!(o.stage, stage, "{spelling}");
                assert_eq!(o.probability, Some(Decimal::from(p)), "{spelling}");
                assert!(m.warnings.is_empty(), "{spelling}");
            }
        }
    }

    #[test]
    fn probability_of_the_record_beats_the_stage() {
        for (p, want) in [
            (serde_json::json!(0), "0"),
            ("33.5".into(), "33.5"),
            (100.into(), "100"),
        ] {
            let o = map(&base()
                .with("StageName", "Closed Won")
                .with("Probability", p))
            .unwrap();
            assert_eq!(o.probability, Some(dec(want)));
        }
        let o = map(&base()
            .with("StageName", "Closed Won")
            .with("Probability", serde_json::Value::Null))
        .unwrap();
        assert_eq!(o.probability, Some(dec("100")));
    }

    #[test]
    fn unknown_stage_takes_the_default_with_a_warning() {
        let (o, m) = map_with(
            &base().with("StageName", "Waiting on Legal"),
            &Tables::default(),
        )
        .unwrap();
        assert_eq!(o.stage, S::Prospecting);
        assert_eq!(o.probability, Some(dec("10")));
        assert_eq!(m.warnings.len(), 1);
        assert_eq!(m.warnings[0].field, "StageName");
        assert!(
            matches!(&m.warnings[0].problem, Problem::UnknownValue { found, .. } if &**found == "Waiting on Legal")
        );
    }

    #[test]
    fn host_tables_override_stages() {
        let mut tables = Tables::default();
        tables.opportunity_stage = tables
            .opportunity_stage
            .clone()
            .with("Waiting on Legal", StageMapping::new(S::Negotiation, 95));
        let (o, m) = map_with(&base().with("StageName", "waiting on legal"), &tables).unwrap();
        assert_eq!((o.stage, o.probability), (S::Negotiation, Some(dec("95"))));
        assert!(m.warnings.is_empty());

        tables.opportunity_stage = tables.opportunity_stage.clone().with_default(None);
        let err = map_with(&base().with("StageName", "Lost in Space"), &tables).unwrap_err();
        assert_eq!(err.field, "StageName");
        let err = map_with(&base(), &tables).unwrap_err();
        assert_eq!(
            (err.field.as_ref(), err.problem),
            ("StageName", Problem::Missing)
        );
    }

    #[test]
    fn bad_input_names_the_field() {
        let cases: &[(&str, serde_json::Value)] = &[
            ("Name", serde_json::Value::Null),
            ("Name", "   ".into()),
            ("CloseDate", "2024-02-30".into()),
            ("CloseDate", "31/01/2024".into()),
            ("Amount", "1e30".into()),
            ("Amount", "lots".into()),
            ("Amount", serde_json::json!(1e18)),
            ("Probability", 101.into()),
            ("Probability", (-1).into()),
            ("Probability", "high".into()),
            ("StageName", serde_json::json!({})),
            ("AccountId", "not-an-id".into()),
            ("ContactId", "003x".into()),
            ("Id", "006".into()),
        ];
        for (field, value) in cases {
            let err = map(&base().with(field, value.clone())).unwrap_err();
            assert_eq!(err.field, *field, "{field} = {value}");
            assert_eq!(err.object, SObject::OPPORTUNITY);
            assert!(err.to_string().contains(field));
        }
        let err = map(&base().with("Amount", "1e30")).unwrap_err();
        assert!(matches!(err.problem, Problem::OutOfRange { .. }), "{err}");
    }

    #[test]
    fn repairs_are_warnings() {
        let rec = base()
            .with("CurrencyIsoCode", "Euro")
            .with("LeadSource", "W".repeat(256));
        let (o, m) = map_with(&rec, &Tables::default()).unwrap();
        assert_eq!(o.currency, None);
        assert_eq!(o.lead_source.map(|s| s.len()), Some(255));
        let fields: Vec<_> = m.warnings.iter().map(|w| w.field.as_ref()).collect();
        assert_eq!(fields, ["LeadSource", "CurrencyIsoCode"]);
    }

    #[test]
    fn custom_fields_are_carried() {
        let tables = Tables::default().with_custom_field(CustomField::new(
            SObject::OPPORTUNITY,
            "Score__c",
            "score",
        ));
        let (o, _) = map_with(&base().with("Score__c", 7), &tables).unwrap();
        assert_eq!(o.custom_fields["score"].json(), "7");
    }
}
