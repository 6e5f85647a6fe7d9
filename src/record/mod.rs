//! [`SfRecord`]: one Salesforce record as the REST API sends it, with typed
//! getters that accept Salesforce's real formats.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::error::{FieldError, Problem};
use crate::id::SfId;
use crate::object::SObject;

mod members;
mod values;

#[cfg(feature = "http")]
pub(crate) use members::Records;
pub(crate) use values::parse_datetime;
use values::{fast_date, parse_decimal, unquote};

/// One Salesforce record: a JSON object with an `attributes` block, as the
/// REST API and `sf data export tree` send it.
///
/// Field values are kept as the raw JSON text they arrived in and parsed
/// only when a getter asks, so that money keeps every digit (no `f64`
/// round trip) and unknown fields cost nothing.
///
/// Getters return `Ok(None)` for a missing field, a JSON `null` or a blank
/// string, `Ok(Some(_))` for a usable value, and a [`FieldError`] naming the
/// field for a value of the wrong kind. A dotted path (`Account.Name`) reads
/// a field of a related record.
///
/// ```
/// use salesforce_import::SfRecord;
/// use rust_decimal::Decimal;
/// let rec = SfRecord::from_json(r#"{
///     "attributes": {"type": "Opportunity"},
///     "Id": "0065g00000XyZ12",
///     "Amount": 1300.10,
///     "CloseDate": "2024-01-31",
///     "LastModifiedDate": "2024-01-31T17:03:00.000+0000",
///     "Account": {"attributes": {"type": "Account"}, "Name": "Acme"}
/// }"#)?;
/// assert_eq!(rec.object().unwrap().as_str(), "Opportunity");
/// assert_eq!(rec.decimal("Amount")?, Some("1300.10".parse::<Decimal>().unwrap()));
/// assert_eq!(rec.text("Account.Name")?.as_deref(), Some("Acme"));
/// assert_eq!(rec.date("CloseDate")?.unwrap().to_string(), "2024-01-31");
/// assert!(rec.datetime("LastModifiedDate")?.is_some());
/// assert_eq!(rec.text("Description")?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct SfRecord {
    /// An arena: the record's JSON text as it arrived (or, read from a
    /// page in one pass, its names and raw values back to back), then any
    /// name that had to be unescaped and any member set later. Only the
    /// spans in `members` are meaningful.
    buf: String,
    /// The top-level members, sorted by name, the last of a duplicated
    /// name kept (what a JSON object means): one allocation for the whole
    /// record instead of two a field.
    members: Vec<members::Member>,
}

/// A record's `attributes` block, borrowed from its text where it has no
/// escapes (every record is checked to have a valid one).
#[derive(Deserialize)]
struct Attributes<'a> {
    #[serde(rename = "type", borrow)]
    object: Option<Cow<'a, str>>,
    #[serde(rename = "referenceId", borrow)]
    reference_id: Option<Cow<'a, str>>,
}

/// Whether `text` is a date alone (`2024-01-31`), not a datetime.
pub(crate) fn is_date_only(text: &str) -> bool {
    fast_date(text).is_some() || NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
}

impl fmt::Debug for SfRecord {
    /// Shows the object and id only: record bodies are customer data and
    /// stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SfRecord")
            .field("object", &self.object())
            .field("id", &self.raw_text("Id"))
            .field("fields", &self.members.len())
            .finish()
    }
}

impl SfRecord {
    /// Parses one record from JSON text.
    pub fn from_json(json: &str) -> Result<SfRecord, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// One row of a flat CSV (Bulk API 2.0 results, a Data Export) as the
    /// record REST would give: `cells` are (column, value) pairs; a column
    /// `Rel.Field` is a field of the related record `Rel` (`null` when all
    /// its values are empty, as REST gives an empty lookup); an empty value
    /// is `null`; every other value a JSON string, typed later by the same
    /// getters as REST's JSON (exact decimals, every date spelling).
    #[cfg(any(feature = "http", feature = "export"))]
    pub(crate) fn from_csv_cells<'a>(
        object: &SObject,
        cells: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<SfRecord, serde_json::Error> {
        let json = |s: &str| serde_json::to_string(s).expect("a string serializes");
        let mut text = String::from("{\"attributes\":{\"type\":");
        text.push_str(&json(object.as_str()));
        text.push('}');
        // Per relationship: its fields as JSON members, and whether any is set.
        let mut relationships: Vec<(&str, String, bool)> = Vec::new();
        for (column, value) in cells {
            let value_json = if value.is_empty() {
                "null".to_owned()
            } else {
                json(value)
            };
            match column.split_once('.') {
                None => {
                    text.push(',');
                    text.push_str(&json(column));
                    text.push(':');
                    text.push_str(&value_json);
                }
                Some((rel, field)) => {
                    let i = match relationships.iter().position(|(r, ..)| *r == rel) {
                        Some(i) => i,
                        None => {
                            relationships.push((rel, String::new(), false));
                            relationships.len() - 1
                        }
                    };
                    let entry = &mut relationships[i];
                    if !entry.1.is_empty() {
                        entry.1.push(',');
                    }
                    entry.1.push_str(&json(field));
                    entry.1.push(':');
                    entry.1.push_str(&value_json);
                    entry.2 |= !value.is_empty();
                }
            }
        }
        for (rel, fields, any) in relationships {
            text.push(',');
            text.push_str(&json(rel));
            text.push(':');
            if any {
                text.push('{');
                text.push_str(&fields);
                text.push('}');
            } else {
                text.push_str("null");
            }
        }
        text.push('}');
        SfRecord::from_json(&text)
    }

    /// Builds a record field by field: for tests, fixtures and generated orgs.
    ///
    /// ```
    /// use salesforce_import::{SfRecord, SObject};
    /// let rec = SfRecord::new(SObject::ACCOUNT)
    ///     .with("Id", "001x0000002xLCVAA2")
    ///     .with("Name", "Gravity Investments")
    ///     .with("NumberOfEmployees", 120);
    /// assert_eq!(rec.integer("NumberOfEmployees")?, Some(120));
    /// # Ok::<(), salesforce_import::FieldError>(())
    /// ```
    pub fn new(object: SObject) -> SfRecord {
        let mut rec = SfRecord {
            buf: String::new(),
            members: Vec::new(),
        };
        rec.set("attributes", serde_json::json!({ "type": object.as_str() }));
        rec
    }

    /// Sets a field to a JSON value (`null` included), replacing any earlier value.
    pub fn with(mut self, field: &str, value: impl Into<serde_json::Value>) -> SfRecord {
        self.set(field, value);
        self
    }

    /// Sets a field to a JSON value, replacing any earlier value.
    pub fn set(&mut self, field: &str, value: impl Into<serde_json::Value>) {
        self.put(field, &value.into().to_string());
    }

    /// Removes a field.
    pub fn remove(&mut self, field: &str) {
        if let Ok(i) = self.position(field) {
            self.members.remove(i);
        }
    }

    /// The object named in `attributes.type`.
    pub fn object(&self) -> Option<SObject> {
        let attrs = self.member("attributes")?;
        let attrs: Attributes<'_> = serde_json::from_str(attrs).ok()?;
        attrs.object.map(|o| SObject::new(o.into_owned()))
    }

    /// `attributes.referenceId`, present in sObject Tree files.
    pub fn reference_id(&self) -> Option<String> {
        let attrs = self.member("attributes")?;
        serde_json::from_str::<Attributes<'_>>(attrs)
            .ok()?
            .reference_id
            .map(Cow::into_owned)
    }

    /// The record's `Id`, validated.
    pub fn id(&self) -> Result<SfId, FieldError> {
        self.sf_id("Id")?
            .ok_or_else(|| FieldError::new("Id", Problem::Missing))
    }

    /// When Salesforce last changed the record, user or system
    /// (`SystemModstamp`, else `LastModifiedDate`): what change-aware
    /// re-runs and incremental syncs compare. `None` when the record
    /// carries neither, or an unreadable one.
    ///
    /// ```
    /// use salesforce_import::SfRecord;
    /// let r = SfRecord::from_json(r#"{"Id":"001000000000001AAA","SystemModstamp":"2026-01-31T17:03:00.000+0000"}"#).unwrap();
    /// assert_eq!(r.modstamp().unwrap().to_rfc3339(), "2026-01-31T17:03:00+00:00");
    /// ```
    pub fn modstamp(&self) -> Option<DateTime<Utc>> {
        match self.datetime("SystemModstamp") {
            Ok(Some(at)) => Some(at),
            _ => self.datetime("LastModifiedDate").ok().flatten(),
        }
    }

    /// Whether the record is in Salesforce's recycle bin (`IsDeleted` is
    /// true): rows a `queryAll` returns for deleted records.
    pub fn is_deleted(&self) -> bool {
        matches!(self.boolean("IsDeleted"), Ok(Some(true)))
    }

    /// The names of the fields present (`attributes` excluded).
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.members
            .iter()
            .map(|m| self.text_of(m.name))
            .filter(|k| *k != "attributes")
    }

    /// The raw JSON text of a top-level field, as it arrived (`"\"Acme\""`,
    /// `null`, `{"records": [...]}`).
    pub fn raw_field(&self, field: &str) -> Option<&str> {
        self.lookup(field)
    }

    /// Looks a top-level field up: exact name first, then ignoring ASCII
    /// case (Data Loader CSV exports upper-case every column).
    fn lookup(&self, field: &str) -> Option<&str> {
        let i = match self.position(field) {
            Ok(i) => i,
            // Names differing only in case sort next to each other, and
            // `field` would go among them.
            Err(i) => [i.checked_sub(1), Some(i)]
                .into_iter()
                .flatten()
                .find(|&j| {
                    self.members
                        .get(j)
                        .is_some_and(|m| self.text_of(m.name).eq_ignore_ascii_case(field))
                })?,
        };
        Some(self.text_of(self.members[i].value))
    }

    /// The raw JSON text of a field (dotted paths included), or `None` when
    /// it is absent or `null`.
    pub(crate) fn raw_text(&self, path: &str) -> Option<Cow<'_, str>> {
        // A byte search: '.' is ASCII, and most paths have none.
        let (head, rest) = match path.bytes().position(|b| b == b'.') {
            Some(dot) => (&path[..dot], Some(&path[dot + 1..])),
            None => (path, None),
        };
        let value = self.lookup(head)?;
        if value == "null" {
            return None;
        }
        match rest {
            // A top-level field is borrowed: no allocation on the hot path.
            None => Some(Cow::Borrowed(value)),
            Some(rest) => serde_json::from_str::<SfRecord>(value)
                .ok()?
                .raw_text(rest)
                .map(|t| Cow::Owned(t.into_owned())),
        }
    }

    /// A field as a `serde_json::Value` (for custom fields copied as they
    /// are). Numbers keep their digits only up to `f64`; use
    /// [`SfRecord::decimal`] for money.
    pub fn value(&self, path: &str) -> Option<serde_json::Value> {
        serde_json::from_str(&self.raw_text(path)?).ok()
    }

    /// Text. Blank text is `None`; numbers and booleans are accepted and
    /// turned into their text.
    pub fn text(&self, path: &str) -> Result<Option<String>, FieldError> {
        Ok(self.text_ref(path)?.map(Cow::into_owned))
    }

    /// [`text`](SfRecord::text), borrowed when it can be.
    pub(crate) fn text_ref(&self, path: &str) -> Result<Option<Cow<'_, str>>, FieldError> {
        let Some(raw) = self.raw_text(path) else {
            return Ok(None);
        };
        let text = if raw.starts_with('"') {
            unquote(raw.clone())
        } else {
            // Numbers and booleans are taken as their text; objects and arrays are not text.
            match serde_json::from_str::<serde_json::Value>(&raw) {
                Ok(serde_json::Value::Number(_) | serde_json::Value::Bool(_)) => Some(raw.clone()),
                _ => None,
            }
        };
        let Some(text) = text else {
            return Err(FieldError::new(
                path.to_owned(),
                Problem::invalid("text", &raw),
            ));
        };
        Ok(if text.trim().is_empty() {
            None
        } else {
            Some(text)
        })
    }

    /// A number as an exact decimal, from a JSON number or a numeric string
    /// (`1300`, `1300.10`, `"500000.0"`, `1.5E7`), never through `f64`.
    pub fn decimal(&self, path: &str) -> Result<Option<Decimal>, FieldError> {
        let Some(raw) = self.raw_text(path) else {
            return Ok(None);
        };
        let text: Cow<'_, str> = if raw.starts_with('"') {
            match unquote(raw.clone()) {
                Some(s) if s.trim().is_empty() => return Ok(None),
                Some(s) => s,
                None => raw,
            }
        } else {
            raw
        };
        let looks_numeric = text
            .trim()
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'));
        match parse_decimal(&text) {
            Some(d) => Ok(Some(d.normalize())),
            None if looks_numeric && text.trim().chars().any(|c| c.is_ascii_digit()) => {
                Err(FieldError::new(
                    path.to_owned(),
                    Problem::OutOfRange {
                        found: cut(&text).into(),
                    },
                ))
            }
            None => Err(FieldError::new(
                path.to_owned(),
                Problem::invalid("a number", &text),
            )),
        }
    }

    /// A whole number (`12345`, `"12345"`, `12345.0`).
    pub fn integer(&self, path: &str) -> Result<Option<i64>, FieldError> {
        let Some(d) = self.decimal(path).map_err(|e| {
            if matches!(e.problem, Problem::Invalid { .. }) {
                FieldError::new(e.field, retitle(e.problem, "a whole number"))
            } else {
                e
            }
        })?
        else {
            return Ok(None);
        };
        if !d.fract().is_zero() {
            return Err(FieldError::new(
                path.to_owned(),
                Problem::invalid("a whole number", &d.to_string()),
            ));
        }
        i64::try_from(d).map(Some).map_err(|_| {
            FieldError::new(
                path.to_owned(),
                Problem::OutOfRange {
                    found: d.to_string().into(),
                },
            )
        })
    }

    /// A boolean: JSON `true`/`false`, or the strings `"true"`, `"false"`,
    /// `"1"`, `"0"` of CSV exports (any case).
    pub fn boolean(&self, path: &str) -> Result<Option<bool>, FieldError> {
        let Some(raw) = self.raw_text(path) else {
            return Ok(None);
        };
        let text = if raw.starts_with('"') {
            unquote(raw.clone()).unwrap_or(raw)
        } else {
            raw
        };
        match text.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(FieldError::new(
                path.to_owned(),
                Problem::invalid("true or false", &text),
            )),
        }
    }

    /// A date, `2024-01-31`. A datetime is accepted and its UTC date used
    /// (the mappers' [`Reader::date`](crate::mapping::Reader::date) warns).
    pub fn date(&self, path: &str) -> Result<Option<NaiveDate>, FieldError> {
        let Some(text) = self.text_ref(path)? else {
            return Ok(None);
        };
        let t = text.trim();
        if let Some(d) = fast_date(t) {
            return Ok(Some(d));
        }
        if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            return Ok(Some(d));
        }
        if let Some(dt) = parse_datetime(t) {
            return Ok(Some(dt.date_naive()));
        }
        Err(FieldError::new(
            path.to_owned(),
            Problem::invalid("a date (YYYY-MM-DD)", t),
        ))
    }

    /// A datetime in any of Salesforce's spellings:
    /// `2024-01-31T17:03:00.000+0000`, `2024-01-31T17:03:00Z`,
    /// `2024-01-31T17:03:00+00:00`.
    pub fn datetime(&self, path: &str) -> Result<Option<DateTime<Utc>>, FieldError> {
        let Some(text) = self.text_ref(path)? else {
            return Ok(None);
        };
        parse_datetime(text.trim())
            .map(Some)
            .ok_or_else(|| FieldError::new(path.to_owned(), Problem::invalid("a datetime", &text)))
    }

    /// A Salesforce id (15 or 18 characters).
    pub fn sf_id(&self, path: &str) -> Result<Option<SfId>, FieldError> {
        let Some(text) = self.text_ref(path)? else {
            return Ok(None);
        };
        SfId::from_str(text.trim()).map(Some).map_err(|e| {
            FieldError::new(
                path.to_owned(),
                Problem::invalid("a Salesforce id", e.raw()),
            )
        })
    }
}

fn cut(s: &str) -> String {
    s.chars().take(60).collect()
}

fn retitle(problem: Problem, expected: &'static str) -> Problem {
    match problem {
        Problem::Invalid { found, .. } => Problem::Invalid {
            expected: expected.into(),
            found,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike};

    fn rec(json: &str) -> SfRecord {
        SfRecord::from_json(json).unwrap()
    }

    #[test]
    fn datetimes_in_every_salesforce_spelling() {
        for s in [
            "2024-01-31T17:03:00.000+0000",
            "2024-01-31T17:03:00+0000",
            "2024-01-31T17:03:00.000Z",
            "2024-01-31T17:03:00Z",
            "2024-01-31T17:03:00+00:00",
            "2024-01-31T19:03:00.000+0200",
            "2024-01-31T17:03:00.000",
        ] {
            let r = SfRecord::new(SObject::ACCOUNT).with("D", s);
            let dt = r.datetime("D").unwrap().unwrap_or_else(|| panic!("{s}"));
            assert_eq!((dt.day(), dt.hour(), dt.minute()), (31, 17, 3), "{s}");
        }
        let bad = SfRecord::new(SObject::ACCOUNT).with("D", "31/01/2024 17:03");
        let err = bad.datetime("D").unwrap_err();
        assert_eq!(err.field, "D");
    }

    #[test]
    fn dates() {
        let r = SfRecord::new(SObject::ACCOUNT)
            .with("A", "2024-02-29")
            .with("B", "2024-02-30")
            .with("C", "2024-01-31T23:30:00.000+0000")
            .with("E", "")
            .with("F", serde_json::Value::Null);
        assert_eq!(r.date("A").unwrap(), NaiveDate::from_ymd_opt(2024, 2, 29));
        assert!(r.date("B").is_err());
        assert_eq!(r.date("C").unwrap(), NaiveDate::from_ymd_opt(2024, 1, 31));
        assert_eq!(r.date("E").unwrap(), None);
        assert_eq!(r.date("F").unwrap(), None);
        assert_eq!(r.date("Missing").unwrap(), None);
    }

    #[test]
    fn decimals_keep_every_digit() {
        let r = rec(
            r#"{"A": 1234567890123456.78, "B": "500000.0", "C": 0.1, "D": 1.5E7,
                      "E": "abc", "F": 1e400, "G": -3, "H": "", "I": true}"#,
        );
        assert_eq!(
            r.decimal("A").unwrap().unwrap().to_string(),
            "1234567890123456.78"
        );
        assert_eq!(r.decimal("B").unwrap().unwrap().to_string(), "500000");
        assert_eq!(r.decimal("C").unwrap().unwrap().to_string(), "0.1");
        assert_eq!(r.decimal("D").unwrap().unwrap().to_string(), "15000000");
        assert!(matches!(
            r.decimal("E").unwrap_err().problem,
            Problem::Invalid { .. }
        ));
        assert!(matches!(
            r.decimal("F").unwrap_err().problem,
            Problem::OutOfRange { .. }
        ));
        assert_eq!(r.decimal("G").unwrap().unwrap().to_string(), "-3");
        assert_eq!(r.decimal("H").unwrap(), None);
        assert!(r.decimal("I").is_err());
    }

    #[test]
    fn integers() {
        let r =
            rec(r#"{"A": 12345, "B": "12345", "C": 12.0, "D": 12.5, "E": 99999999999999999999}"#);
        assert_eq!(r.integer("A").unwrap(), Some(12345));
        assert_eq!(r.integer("B").unwrap(), Some(12345));
        assert_eq!(r.integer("C").unwrap(), Some(12));
        assert!(r.integer("D").is_err());
        assert!(matches!(
            r.integer("E").unwrap_err().problem,
            Problem::OutOfRange { .. }
        ));
    }

    #[test]
    fn booleans() {
        let r = rec(r#"{"A": true, "B": "false", "C": "TRUE", "D": "1", "E": "yes", "F": null}"#);
        assert_eq!(r.boolean("A").unwrap(), Some(true));
        assert_eq!(r.boolean("B").unwrap(), Some(false));
        assert_eq!(r.boolean("C").unwrap(), Some(true));
        assert_eq!(r.boolean("D").unwrap(), Some(true));
        assert!(r.boolean("E").is_err());
        assert_eq!(r.boolean("F").unwrap(), None);
    }

    #[test]
    fn text_and_nesting_and_case() {
        let r = rec(r#"{"attributes": {"type": "Contact", "url": "/x"},
            "NAME": "Zoë Ångström", "Blank": "  ", "Obj": {"a": 1},
            "Account": {"attributes": {"type": "Account"}, "Name": "Acme",
                        "Owner": {"Name": "Ada"}},
            "Pricebook2": null}"#);
        assert_eq!(r.text("Name").unwrap().as_deref(), Some("Zoë Ångström"));
        assert_eq!(r.text("Blank").unwrap(), None);
        assert!(r.text("Obj").is_err());
        assert_eq!(r.text("Account.Name").unwrap().as_deref(), Some("Acme"));
        assert_eq!(
            r.text("Account.Owner.Name").unwrap().as_deref(),
            Some("Ada")
        );
        assert_eq!(r.text("Pricebook2.IsStandard").unwrap(), None);
        assert_eq!(r.object(), Some(SObject::CONTACT));
    }

    #[test]
    fn ids() {
        let r = rec(r#"{"Id": "001x0000002xLCV", "Bad": "001x", "AccountId": null}"#);
        assert_eq!(r.id().unwrap().as_str(), "001x0000002xLCVAA2");
        assert!(r.sf_id("Bad").is_err());
        assert_eq!(r.sf_id("AccountId").unwrap(), None);
        assert!(SfRecord::new(SObject::ACCOUNT).id().is_err());
    }

    #[test]
    fn debug_shows_no_field_values() {
        let r = rec(r#"{"Id": "001x0000002xLCV", "Name": "Secret Corp"}"#);
        assert!(!format!("{r:?}").contains("Secret"));
    }
}
