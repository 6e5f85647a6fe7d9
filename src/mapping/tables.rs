//! Override tables: picklists (order and quote status, opportunity stage),
//! countries, length limits and the host's extra fields.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use rust_decimal::Decimal;

use crate::crm::{OpportunityStage, OrderStatus, QuoteStatus};
use crate::object::SObject;

/// Maps a Salesforce picklist's values to the CRM's, ignoring case and
/// surrounding spaces. A value the table lacks maps to the default, with a
/// warning; with no default it is a record error.
///
/// ```
/// use salesforce_import::mapping::Tables;
/// use salesforce_import::crm::OrderStatus;
/// let tables = Tables::default();
/// assert_eq!(tables.order_status.get("activated"), Some(OrderStatus::Activated));
/// let custom = tables.order_status.clone().with("Shipped", OrderStatus::Completed);
/// assert_eq!(custom.get("Shipped"), Some(OrderStatus::Completed));
/// assert_eq!(custom.default_value(), Some(OrderStatus::Draft));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Picklist<T> {
    values: HashMap<String, T>,
    default: Option<T>,
}

/// The key a picklist value is found by: words joined by one space, lower
/// case. One pass and one allocation for ASCII text (every page asks).
fn picklist_key(s: &str) -> String {
    if !s.is_ascii() {
        return s
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
    }
    let mut key = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !key.is_empty() {
            key.push(' ');
        }
        key.extend(word.bytes().map(|b| char::from(b.to_ascii_lowercase())));
    }
    key
}

impl<T: Clone> Picklist<T> {
    /// A table from `(Salesforce value, CRM value)` pairs.
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, T)>, default: Option<T>) -> Self {
        Picklist {
            values: pairs
                .into_iter()
                .map(|(k, v)| (picklist_key(k), v))
                .collect(),
            default,
        }
    }

    /// Adds or replaces one value.
    pub fn with(mut self, salesforce_value: &str, crm_value: T) -> Self {
        self.values
            .insert(picklist_key(salesforce_value), crm_value);
        self
    }

    /// Sets the value used for anything the table lacks (`None`: a record error).
    pub fn with_default(mut self, default: Option<T>) -> Self {
        self.default = default;
        self
    }

    /// The CRM value for a Salesforce value.
    pub fn get(&self, salesforce_value: &str) -> Option<T> {
        self.values.get(&picklist_key(salesforce_value)).cloned()
    }

    /// The value used for unknown Salesforce values.
    pub fn default_value(&self) -> Option<T> {
        self.default.clone()
    }
}

/// A CRM value a [`Picklist`] maps to, with the code shown in warnings.
pub trait PicklistValue: Clone {
    /// The CRM's code for the value (`DRAFT`, `CLOSED_WON`).
    fn code(&self) -> &str;
}

impl PicklistValue for OrderStatus {
    fn code(&self) -> &str {
        OrderStatus::code(*self)
    }
}

impl PicklistValue for QuoteStatus {
    fn code(&self) -> &str {
        QuoteStatus::code(*self)
    }
}

impl PicklistValue for StageMapping {
    fn code(&self) -> &str {
        self.stage.code()
    }
}

/// An opportunity stage as the CRM holds it, with the probability used when
/// the Salesforce record has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StageMapping {
    /// The CRM stage.
    pub stage: OpportunityStage,
    /// Default probability, percent.
    pub probability: Decimal,
}

impl StageMapping {
    /// A stage with its default probability.
    pub fn new(stage: OpportunityStage, probability: u32) -> StageMapping {
        StageMapping {
            stage,
            probability: Decimal::from(probability),
        }
    }
}

/// Country names and codes as Salesforce orgs hold them ("United States",
/// "USA", "U.S.", "US", "Deutschland", ...) to ISO 3166-1 alpha-2.
///
/// ```
/// use salesforce_import::mapping::CountryTable;
/// let c = CountryTable::default();
/// for s in ["United States", "USA", "U.S.", "us", "United States of America"] {
///     assert_eq!(c.code(s), Some("US"), "{s}");
/// }
/// assert_eq!(c.code("Deutschland"), Some("DE"));
/// assert_eq!(c.code("Bosnia and Herzegovina"), Some("BA"));
/// assert_eq!(c.code("Atlantis"), None);
/// let c = c.with("Atlantis", "GR");
/// assert_eq!(c.code("atlantis"), Some("GR"));
/// ```
#[derive(Debug, Clone)]
pub struct CountryTable {
    builtin: Arc<Builtin>,
    overrides: HashMap<String, String>,
}

#[derive(Debug)]
struct Builtin {
    exact: HashMap<String, &'static str>,
    derived: HashMap<String, &'static str>,
}

fn country_key(s: &str) -> String {
    let lower = s.to_lowercase();
    // '&' is a word, '.' goes, ',' parts words; then words joined by one
    // space, "st" read as "saint". Two allocations, not six.
    let mut key = String::with_capacity(lower.len() + 8);
    let mut word = String::new();
    let flush = |word: &mut String, key: &mut String| {
        if !word.is_empty() {
            if !key.is_empty() {
                key.push(' ');
            }
            key.push_str(if word == "st" { "saint" } else { word });
            word.clear();
        }
    };
    for c in lower.chars() {
        match c {
            '.' => {}
            '&' => {
                flush(&mut word, &mut key);
                word.push_str("and");
                flush(&mut word, &mut key);
            }
            c if c == ',' || c.is_whitespace() => flush(&mut word, &mut key),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut key);
    key
}

fn builtin() -> Arc<Builtin> {
    static TABLE: OnceLock<Arc<Builtin>> = OnceLock::new();
    TABLE
        .get_or_init(|| {
            let mut exact = HashMap::new();
            let mut derived = HashMap::new();
            // A name without its parenthesis that two countries share
            // ("Virgin Islands": VG or VI) is ambiguous: not guessed.
            let mut ambiguous = Vec::new();
            for line in include_str!("countries.tsv").lines() {
                let Some((code, name)) = line.split_once('\t') else {
                    continue;
                };
                if line.starts_with('#') {
                    continue;
                }
                exact.insert(country_key(code), code);
                exact.insert(country_key(name), code);
                if let Some((before, _)) = name.split_once('(') {
                    let key = country_key(before);
                    match derived.get(&key) {
                        Some(&other) if other != code => ambiguous.push(key),
                        _ => {
                            derived.insert(key, code);
                        }
                    }
                }
            }
            for key in ambiguous {
                derived.remove(&key);
            }
            Arc::new(Builtin { exact, derived })
        })
        .clone()
}

impl Default for CountryTable {
    fn default() -> Self {
        CountryTable {
            builtin: builtin(),
            overrides: HashMap::new(),
        }
    }
}

impl CountryTable {
    /// Adds or replaces a spelling.
    pub fn with(mut self, name: &str, code: &str) -> Self {
        self.overrides
            .insert(country_key(name), code.to_ascii_uppercase());
        self
    }

    /// The ISO alpha-2 code for a name, alias or code, if known.
    pub fn code(&self, name: &str) -> Option<&str> {
        let key = country_key(name);
        if key.is_empty() {
            return None;
        }
        self.overrides
            .get(&key)
            .map(String::as_str)
            .or_else(|| self.builtin.exact.get(&key).copied())
            .or_else(|| self.builtin.derived.get(&key).copied())
    }
}

/// Lengths the CRM's columns allow. Longer text is cut to fit, with a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Phone numbers (BottleCRM: 20).
    pub phone: usize,
    /// Names and titles (255).
    pub name: usize,
    /// Emails (254).
    pub email: usize,
    /// Other short text: cities, states, postcodes, sources (255).
    pub short_text: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            phone: 20,
            name: 255,
            email: 254,
            short_text: 255,
        }
    }
}

/// An extra Salesforce field a host wants carried into a record's
/// `custom_fields` (custom `__c` fields included).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CustomField {
    /// The object.
    pub object: SObject,
    /// The Salesforce field (`Region__c`).
    pub sf_field: String,
    /// The key in `custom_fields` (`region`).
    pub key: String,
}

impl CustomField {
    /// Copies `sf_field` of `object` into `custom_fields[key]`.
    pub fn new(object: SObject, sf_field: impl Into<String>, key: impl Into<String>) -> Self {
        CustomField {
            object,
            sf_field: sf_field.into(),
            key: key.into(),
        }
    }
}

/// Every table a mapper consults. The defaults follow the seed plan; a host
/// replaces what it needs.
///
/// ```
/// use salesforce_import::mapping::{CustomField, Tables};
/// use salesforce_import::crm::QuoteStatus;
/// use salesforce_import::SObject;
/// let tables = Tables::default()
///     .with_custom_field(CustomField::new(SObject::ACCOUNT, "Region__c", "region"));
/// assert_eq!(tables.quote_status.get("Needs Review"), Some(QuoteStatus::Draft));
/// assert_eq!(tables.quote_status.get("Presented"), Some(QuoteStatus::Sent));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Tables {
    /// Order `Status`.
    pub order_status: Picklist<OrderStatus>,
    /// Quote `Status`.
    pub quote_status: Picklist<QuoteStatus>,
    /// Opportunity `StageName`.
    pub opportunity_stage: Picklist<StageMapping>,
    /// Countries.
    pub countries: CountryTable,
    /// Column lengths.
    pub limits: Limits,
    /// Extra fields to carry over.
    pub custom_fields: Vec<CustomField>,
}

impl Tables {
    /// Adds an extra field to carry over.
    pub fn with_custom_field(mut self, field: CustomField) -> Self {
        self.custom_fields.push(field);
        self
    }
}

impl Default for Tables {
    fn default() -> Self {
        use OpportunityStage as S;
        Tables {
            order_status: Picklist::new(
                [
                    ("Draft", OrderStatus::Draft),
                    ("Activated", OrderStatus::Activated),
                    ("Completed", OrderStatus::Completed),
                    ("Cancelled", OrderStatus::Cancelled),
                    ("Canceled", OrderStatus::Cancelled),
                ],
                Some(OrderStatus::Draft),
            ),
            quote_status: Picklist::new(
                [
                    ("Draft", QuoteStatus::Draft),
                    ("Needs Review", QuoteStatus::Draft),
                    ("In Review", QuoteStatus::Sent),
                    ("Presented", QuoteStatus::Sent),
                    ("Approved", QuoteStatus::Accepted),
                    ("Accepted", QuoteStatus::Accepted),
                    ("Rejected", QuoteStatus::Declined),
                    ("Denied", QuoteStatus::Declined),
                ],
                Some(QuoteStatus::Draft),
            ),
            // The ten standard stages, with Salesforce's default probabilities.
            opportunity_stage: Picklist::new(
                [
                    ("Prospecting", StageMapping::new(S::Prospecting, 10)),
                    ("Qualification", StageMapping::new(S::Qualification, 10)),
                    ("Needs Analysis", StageMapping::new(S::Qualification, 20)),
                    ("Value Proposition", StageMapping::new(S::Proposal, 50)),
                    ("Id. Decision Makers", StageMapping::new(S::Proposal, 60)),
                    ("Perception Analysis", StageMapping::new(S::Proposal, 70)),
                    ("Proposal/Price Quote", StageMapping::new(S::Proposal, 75)),
                    ("Negotiation/Review", StageMapping::new(S::Negotiation, 90)),
                    ("Closed Won", StageMapping::new(S::ClosedWon, 100)),
                    ("Closed Lost", StageMapping::new(S::ClosedLost, 0)),
                ],
                Some(StageMapping::new(S::Prospecting, 10)),
            ),
            countries: CountryTable::default(),
            limits: Limits::default(),
            custom_fields: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{FieldError, Problem};
    use crate::mapping::Reader;
    use crate::object::SObject;
    use crate::record::SfRecord;

    /// The one-pass keys agree with the plain definitions.
    #[test]
    fn keys_match_their_definitions() {
        let picklist = |s: &str| {
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        };
        let country = |s: &str| {
            let s = s
                .to_lowercase()
                .replace('&', " and ")
                .replace('.', "")
                .replace(',', " ");
            s.split_whitespace()
                .map(|w| if w == "st" { "saint" } else { w })
                .collect::<Vec<_>>()
                .join(" ")
        };
        for s in [
            "",
            "  ",
            "Closed Won",
            "  closed\t\tWON ",
            "a\u{b}b",
            "Prospecting",
            "U.S.",
            "United States of America",
            "St. Kitts & Nevis",
            "Trinidad&Tobago",
            "Korea, Republic of",
            "ST LUCIA",
            "first.st",
            "Åland Islands",
            "ΣΟΦΊΑ",
            "Côte d\u{2019}Ivoire",
            "a\u{a0}b",
        ] {
            assert_eq!(picklist_key(s), picklist(s), "picklist key of {s:?}");
            assert_eq!(country_key(s), country(s), "country key of {s:?}");
        }
    }

    #[test]
    fn every_iso_code_maps_to_itself() {
        let c = CountryTable::default();
        let codes: Vec<&str> = include_str!("countries.tsv")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('\t').map(|(code, _)| code))
            .collect();
        assert!(codes.len() >= 249);
        for code in codes {
            assert_eq!(c.code(code), Some(code));
            assert_eq!(c.code(&code.to_lowercase()), Some(code));
        }
    }

    #[test]
    fn spellings_seen_in_orgs() {
        let c = CountryTable::default();
        let cases = [
            ("United States", "US"),
            ("USA", "US"),
            ("U.S.", "US"),
            ("U.S.A.", "US"),
            ("  united   states ", "US"),
            ("UK", "GB"),
            ("United Kingdom", "GB"),
            ("England", "GB"),
            ("Deutschland", "DE"),
            ("Germany", "DE"),
            ("Österreich", "AT"),
            ("Schweiz", "CH"),
            ("España", "ES"),
            ("The Netherlands", "NL"),
            ("Saint Lucia", "LC"),
            ("St. Lucia", "LC"),
            ("Trinidad & Tobago", "TT"),
            ("Trinidad and Tobago", "TT"),
            ("Myanmar", "MM"),
            ("Korea", "KR"),
            ("South Korea", "KR"),
            ("Samoa", "WS"),
            ("Congo", "CG"),
            ("Côte d'Ivoire", "CI"),
            ("Åland Islands", "AX"),
            ("中国", "CN"),
        ];
        for (name, code) in cases {
            assert_eq!(c.code(name), Some(code), "{name}");
        }
        for unknown in ["", "   ", "Atlantis", "Narnia", "U"] {
            assert_eq!(c.code(unknown), None, "{unknown}");
        }
    }

    /// "Virgin Islands" is British (VG) or U.S. (VI): not guessed, so the
    /// mapper leaves it empty with its unknown-value warning; the precise
    /// spellings still map.
    #[test]
    fn an_ambiguous_country_name_is_not_guessed() {
        let c = CountryTable::default();
        for name in ["Virgin Islands", "virgin islands", " Virgin  Islands "] {
            assert_eq!(c.code(name), None, "{name}");
        }
        for (name, code) in [
            ("British Virgin Islands", "VG"),
            ("Virgin Islands (UK)", "VG"),
            ("US Virgin Islands", "VI"),
            ("U.S. Virgin Islands", "VI"),
            ("Virgin Islands (US)", "VI"),
        ] {
            assert_eq!(c.code(name), Some(code), "{name}");
        }
        // A host that knows which one its org means can say so.
        assert_eq!(
            c.with("Virgin Islands", "VI").code("Virgin Islands"),
            Some("VI")
        );

        let tables = Tables::default();
        let rec = SfRecord::new(SObject::ACCOUNT)
            .with("Id", "001x0000002xLCV")
            .with("BillingCountry", "Virgin Islands");
        let mut r = Reader::new(SObject::ACCOUNT, &rec, &tables).unwrap();
        assert_eq!(
            r.country("BillingCountryCode", "BillingCountry").unwrap(),
            None
        );
        assert_eq!(
            r.warnings(),
            [FieldError::new(
                "BillingCountry",
                Problem::UnknownValue {
                    found: "Virgin Islands".into(),
                    used: None,
                }
            )]
        );
    }

    #[test]
    fn stage_table_has_the_ten_standard_stages() {
        let t = Tables::default();
        let cases = [
            ("Prospecting", OpportunityStage::Prospecting, 10),
            ("Qualification", OpportunityStage::Qualification, 10),
            ("Needs Analysis", OpportunityStage::Qualification, 20),
            ("Value Proposition", OpportunityStage::Proposal, 50),
            ("Id. Decision Makers", OpportunityStage::Proposal, 60),
            ("Perception Analysis", OpportunityStage::Proposal, 70),
            ("Proposal/Price Quote", OpportunityStage::Proposal, 75),
            ("Negotiation/Review", OpportunityStage::Negotiation, 90),
            ("Closed Won", OpportunityStage::ClosedWon, 100),
            ("Closed Lost", OpportunityStage::ClosedLost, 0),
        ];
        for (sf, stage, p) in cases {
            assert_eq!(
                t.opportunity_stage.get(sf),
                Some(StageMapping::new(stage, p)),
                "{sf}"
            );
        }
        assert_eq!(t.opportunity_stage.get("Won Big"), None);
    }

    #[test]
    fn status_tables() {
        let t = Tables::default();
        for (sf, want) in [
            ("Draft", OrderStatus::Draft),
            ("Activated", OrderStatus::Activated),
            ("Completed", OrderStatus::Completed),
            ("Cancelled", OrderStatus::Cancelled),
        ] {
            assert_eq!(t.order_status.get(sf), Some(want));
        }
        for (sf, want) in [
            ("Draft", QuoteStatus::Draft),
            ("Needs Review", QuoteStatus::Draft),
            ("In Review", QuoteStatus::Sent),
            ("Presented", QuoteStatus::Sent),
            ("Approved", QuoteStatus::Accepted),
            ("Accepted", QuoteStatus::Accepted),
            ("Rejected", QuoteStatus::Declined),
            ("Denied", QuoteStatus::Declined),
        ] {
            assert_eq!(t.quote_status.get(sf), Some(want), "{sf}");
        }
    }
}
