//! [`Reader`]: the field-reading helper every mapper uses, which ties each
//! problem to the object, the record and the field.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::{LookupSpec, LookupValue, Mapped, Picklist, PicklistValue, Requirement, Tables};
use crate::crm::{Address, CrmRecord, CustomFields, CustomValue};
use crate::error::{FieldError, Problem, RecordError};
use crate::id::SfId;
use crate::object::SObject;
use crate::record::SfRecord;

/// The largest magnitude a money or quantity column takes: Salesforce's
/// currency fields are (18, 2), and anything past 10^18 is a broken value,
/// not a sale.
const MAX_AMOUNT: i64 = 1_000_000_000_000_000_000;

/// Reads the fields of one record for a mapper: typed getters that return
/// [`RecordError`]s naming the record and field, repairs that become
/// warnings, and lookup extraction.
///
/// ```
/// use salesforce_import::mapping::{Reader, Tables};
/// use salesforce_import::{SfRecord, SObject};
/// let rec = SfRecord::new(SObject::CONTACT).with("Id", "003x0000004TmFk").with("Phone", "+1 (555) 010-0000 ext. 1234567");
/// let tables = Tables::default();
/// let mut r = Reader::new(SObject::CONTACT, &rec, &tables)?;
/// assert_eq!(r.phone("Phone")?.unwrap().chars().count(), 20); // cut to the CRM's limit
/// assert_eq!(r.warnings().len(), 1);
/// assert!(r.required_text("LastName").unwrap_err().to_string().contains("LastName"));
/// # Ok::<(), salesforce_import::RecordError>(())
/// ```
#[derive(Debug)]
pub struct Reader<'a> {
    object: SObject,
    record: &'a SfRecord,
    tables: &'a Tables,
    sf_id: SfId,
    warnings: Vec<FieldError>,
}

impl<'a> Reader<'a> {
    /// Starts reading a record; fails when its `Id` is missing or invalid.
    pub fn new(
        object: SObject,
        record: &'a SfRecord,
        tables: &'a Tables,
    ) -> Result<Self, RecordError> {
        let sf_id = record
            .id()
            .map_err(|e| RecordError::from_field(object.clone(), None, e))?;
        Ok(Reader {
            object,
            record,
            tables,
            sf_id,
            warnings: Vec::new(),
        })
    }

    /// The record's id.
    pub fn sf_id(&self) -> &SfId {
        &self.sf_id
    }

    /// The tables in use.
    pub fn tables(&self) -> &'a Tables {
        self.tables
    }

    /// The warnings so far.
    pub fn warnings(&self) -> &[FieldError] {
        &self.warnings
    }

    /// A record error for `field`.
    pub fn error(&self, field: impl Into<Cow<'static, str>>, problem: Problem) -> RecordError {
        RecordError::new(
            self.object.clone(),
            Some(self.sf_id.clone()),
            field,
            problem,
        )
    }

    /// Records a warning.
    pub fn warn(&mut self, field: impl Into<Cow<'static, str>>, problem: Problem) {
        self.warnings.push(FieldError::new(field, problem));
    }

    fn tie<T>(&self, r: Result<T, FieldError>) -> Result<T, RecordError> {
        r.map_err(|e| RecordError::from_field(self.object.clone(), Some(self.sf_id.clone()), e))
    }

    /// Text, cut to `max` characters with a warning.
    pub fn text_max(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<Option<String>, RecordError> {
        let record = self.record;
        let Some(text) = self.tie(record.text_ref(field))? else {
            return Ok(None);
        };
        let text = self.without_nul(field, text);
        let text = text.trim();
        // A text no longer in bytes than `max` has at most `max` characters.
        if text.len() > max && text.chars().count() > max {
            self.warn(field, Problem::TooLong { max });
            return Ok(Some(text.chars().take(max).collect()));
        }
        Ok(Some(text.to_owned()))
    }

    /// Short text (cities, sources, types), cut to [`Limits::short_text`](super::Limits).
    pub fn text(&mut self, field: &'static str) -> Result<Option<String>, RecordError> {
        self.text_max(field, self.tables.limits.short_text)
    }

    /// Long text (descriptions), kept whole (NUL characters aside).
    pub fn long_text(&mut self, field: &'static str) -> Result<Option<String>, RecordError> {
        let record = self.record;
        let text = self.tie(record.text_ref(field))?;
        Ok(text.map(|t| self.without_nul(field, t).into_owned()))
    }

    /// `text` without NUL characters, which no CRM text column holds
    /// (PostgreSQL refuses them): removed, with a warning on `field`.
    fn without_nul<'t>(&mut self, field: &'static str, text: Cow<'t, str>) -> Cow<'t, str> {
        if !text.as_bytes().contains(&0) {
            return text;
        }
        let count = text.bytes().filter(|&b| b == 0).count();
        self.warn(field, Problem::NulRemoved { count });
        Cow::Owned(text.replace('\0', ""))
    }

    /// Text that must be present, cut to the name limit.
    pub fn required_text(&mut self, field: &'static str) -> Result<String, RecordError> {
        let max = self.tables.limits.name;
        self.text_max(field, max)?
            .ok_or_else(|| self.error(field, Problem::Missing))
    }

    /// A phone number, cut to [`Limits::phone`](super::Limits) with a warning.
    pub fn phone(&mut self, field: &'static str) -> Result<Option<String>, RecordError> {
        self.text_max(field, self.tables.limits.phone)
    }

    /// An email address. One without an `@` is dropped with a warning.
    pub fn email(&mut self, field: &'static str) -> Result<Option<String>, RecordError> {
        let max = self.tables.limits.email;
        let email = self.text_max(field, max)?;
        match email {
            Some(e) if !e.contains('@') => {
                self.warn(field, Problem::invalid("an email address", &e));
                Ok(None)
            }
            other => Ok(other),
        }
    }

    /// An exact decimal.
    pub fn decimal(&self, field: &'static str) -> Result<Option<Decimal>, RecordError> {
        self.tie(self.record.decimal(field))
    }

    /// Money or a quantity: a decimal whose magnitude is below 10^18.
    pub fn amount(&self, field: &'static str) -> Result<Option<Decimal>, RecordError> {
        self.decimal(field)?
            .map(|d| self.check_amount(field, d))
            .transpose()
    }

    /// A computed amount (a line total, a discount), held to the same range
    /// as [`Reader::amount`]; out of range is an error naming `field`.
    pub fn check_amount(&self, field: &'static str, d: Decimal) -> Result<Decimal, RecordError> {
        if d.abs() >= Decimal::from(MAX_AMOUNT) {
            return Err(self.error(
                field,
                Problem::OutOfRange {
                    found: d.to_string().into(),
                },
            ));
        }
        Ok(d)
    }

    /// A percentage between 0 and 100.
    pub fn percent(&self, field: &'static str) -> Result<Option<Decimal>, RecordError> {
        match self.decimal(field)? {
            Some(d) if d < Decimal::ZERO || d > Decimal::ONE_HUNDRED => Err(self.error(
                field,
                Problem::OutOfRange {
                    found: d.to_string().into(),
                },
            )),
            other => Ok(other),
        }
    }

    /// A whole number.
    pub fn integer(&self, field: &'static str) -> Result<Option<i64>, RecordError> {
        self.tie(self.record.integer(field))
    }

    /// A boolean.
    pub fn boolean(&self, field: &'static str) -> Result<Option<bool>, RecordError> {
        self.tie(self.record.boolean(field))
    }

    /// A date. A date and time is accepted and its UTC date used, with a
    /// warning that the time (and offset) was dropped.
    pub fn date(&mut self, field: &'static str) -> Result<Option<NaiveDate>, RecordError> {
        let Some(date) = self.tie(self.record.date(field))? else {
            return Ok(None);
        };
        let record = self.record;
        if let Some(text) = self.tie(record.text_ref(field))? {
            let t = text.trim();
            if !crate::record::is_date_only(t) {
                self.warn(
                    field,
                    Problem::TimeDropped {
                        found: t.chars().take(60).collect::<String>().into(),
                        used: date.to_string().into(),
                    },
                );
            }
        }
        Ok(Some(date))
    }

    /// A datetime.
    pub fn datetime(&self, field: &'static str) -> Result<Option<DateTime<Utc>>, RecordError> {
        self.tie(self.record.datetime(field))
    }

    /// A currency code (`CurrencyIsoCode`, present in multi-currency orgs).
    pub fn currency(&mut self, field: &'static str) -> Result<Option<String>, RecordError> {
        // Read whole, not cut to 3: "Euro" must not become "EUR".
        let code = self
            .tie(self.record.text(field))?
            .map(|c| c.trim().to_owned());
        match code {
            Some(c) if c.len() == 3 && c.chars().all(|c| c.is_ascii_alphabetic()) => {
                Ok(Some(c.to_ascii_uppercase()))
            }
            Some(c) => {
                self.warn(field, Problem::invalid("an ISO 4217 currency code", &c));
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// A picklist value through its table: unknown values take the table's
    /// default with a warning, or are a record error without one; a blank
    /// value takes the default silently.
    pub fn picklist<T: PicklistValue>(
        &mut self,
        field: &'static str,
        table: &Picklist<T>,
    ) -> Result<T, RecordError> {
        let value = self.tie(self.record.text(field))?;
        let Some(value) = value else {
            return table
                .default_value()
                .ok_or_else(|| self.error(field, Problem::Missing));
        };
        if let Some(v) = table.get(&value) {
            return Ok(v);
        }
        match table.default_value() {
            Some(v) => {
                self.warn(
                    field,
                    Problem::UnknownValue {
                        found: value.into(),
                        used: Some(v.code().into()),
                    },
                );
                Ok(v)
            }
            None => Err(self.error(
                field,
                Problem::UnknownValue {
                    found: value.into(),
                    used: None,
                },
            )),
        }
    }

    /// A country as an ISO alpha-2 code; unknown names become `None` with a
    /// warning. Reads `{prefix}CountryCode` first (orgs with State and
    /// Country picklists), then `{prefix}Country`.
    pub fn country(
        &mut self,
        code_field: &'static str,
        name_field: &'static str,
    ) -> Result<Option<String>, RecordError> {
        for field in [code_field, name_field] {
            let Some(raw) = self.tie(self.record.text(field))? else {
                continue;
            };
            return match self.tables.countries.code(&raw) {
                Some(code) => Ok(Some(code.to_owned())),
                None => {
                    self.warn(
                        field,
                        Problem::UnknownValue {
                            found: raw.chars().take(60).collect::<String>().into(),
                            used: None,
                        },
                    );
                    Ok(None)
                }
            };
        }
        Ok(None)
    }

    /// An address from Salesforce's compound-address fields with this
    /// prefix (`Billing`, `Shipping`, `Mailing`).
    pub fn address(&mut self, prefix: AddressPrefix) -> Result<Address, RecordError> {
        let f = prefix.fields();
        Ok(Address {
            line: self.long_text(f[0])?.map(|s| s.trim().to_owned()),
            city: self.text(f[1])?,
            state: self.text(f[2])?,
            postcode: self.text(f[3])?,
            country: self.country(f[5], f[4])?,
        })
    }

    /// The host's extra fields for this object, each with its JSON text as
    /// Salesforce sent it (exact numbers: nothing goes through `f64`). Text
    /// no CRM can store is repaired with a warning naming the field: an
    /// unpaired UTF-16 surrogate becomes U+FFFD, a NUL character is removed.
    pub fn custom_fields(&mut self) -> CustomFields {
        let mut out = CustomFields::new();
        let tables = self.tables;
        let object = self.object.clone();
        for c in tables.custom_fields.iter().filter(|c| c.object == object) {
            let Some(raw) = self.record.raw_text(&c.sf_field) else {
                continue;
            };
            let Some((value, problems)) = custom_value(&raw) else {
                continue;
            };
            for problem in problems {
                self.warn(c.sf_field.clone(), problem);
            }
            out.insert(c.key.clone(), value);
        }
        out
    }

    /// Finishes the record: reads every declared lookup's id (an invalid id,
    /// or a blank one for a [`Requirement::Required`] lookup, is a record
    /// error naming the field) and returns the [`Mapped`] record.
    pub fn finish(self, record: CrmRecord, lookups: &[LookupSpec]) -> Result<Mapped, RecordError> {
        let mut values = Vec::new();
        for spec in lookups {
            let id = self.record.sf_id(&spec.field).map_err(|e| {
                RecordError::from_field(self.object.clone(), Some(self.sf_id.clone()), e)
            })?;
            match id {
                Some(sf_id) => values.push(LookupValue {
                    spec: spec.clone(),
                    sf_id,
                }),
                // A required reference that is blank can never resolve.
                None if spec.requirement == Requirement::Required => {
                    return Err(self.error(spec.field.clone(), Problem::Missing));
                }
                None => {}
            }
        }
        Ok(Mapped {
            sf_id: self.sf_id,
            record,
            lookups: values,
            warnings: self.warnings,
        })
    }
}

/// Which of Salesforce's compound addresses to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressPrefix {
    /// `Billing*` (Account, Order, Quote).
    Billing,
    /// `Shipping*` (Account, Order, Quote).
    Shipping,
    /// `Mailing*` (Contact).
    Mailing,
}

impl AddressPrefix {
    /// Street, City, State, PostalCode, Country, CountryCode.
    pub fn fields(self) -> [&'static str; 6] {
        match self {
            AddressPrefix::Billing => [
                "BillingStreet",
                "BillingCity",
                "BillingState",
                "BillingPostalCode",
                "BillingCountry",
                "BillingCountryCode",
            ],
            AddressPrefix::Shipping => [
                "ShippingStreet",
                "ShippingCity",
                "ShippingState",
                "ShippingPostalCode",
                "ShippingCountry",
                "ShippingCountryCode",
            ],
            AddressPrefix::Mailing => [
                "MailingStreet",
                "MailingCity",
                "MailingState",
                "MailingPostalCode",
                "MailingCountry",
                "MailingCountryCode",
            ],
        }
    }
}

/// A custom field's JSON text made fit for any CRM, exactly as it came
/// otherwise: unpaired surrogate escapes replaced by `\uFFFD` and NUL
/// escapes removed, with the problems to warn of. `None` for `null` (or
/// text that is not JSON, which a parsed record cannot hold).
fn custom_value(raw: &str) -> Option<(CustomValue, Vec<Problem>)> {
    let raw = raw.trim();
    if raw == "null" {
        return None;
    }
    let mut problems = Vec::new();
    let mut text = Cow::Borrowed(raw);
    if raw.contains("\\u") {
        let repaired = replace_lone_surrogates(&text);
        if repaired != text {
            problems.push(Problem::LoneSurrogate);
            text = Cow::Owned(repaired);
        }
        let (kept, count) = remove_nul_escapes(&text);
        if count > 0 {
            problems.push(Problem::NulRemoved { count });
            text = Cow::Owned(kept);
        }
    }
    let value = CustomValue::from_json(&text).ok()?;
    Some((value, problems))
}

/// The `\u0000` escapes of JSON text removed (an escaped backslash before
/// `u0000` is text, and kept); how many.
fn remove_nul_escapes(raw: &str) -> (String, usize) {
    let mut out = String::with_capacity(raw.len());
    let mut count = 0;
    let mut rest = raw;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let escape = &rest[i..];
        if let Some(after) = escape.strip_prefix("\\\\") {
            out.push_str("\\\\");
            rest = after;
        } else if escape
            .get(..6)
            .is_some_and(|e| e.eq_ignore_ascii_case("\\u0000"))
        {
            count += 1;
            rest = &escape[6..];
        } else {
            out.push('\\');
            rest = &escape[1..];
        }
    }
    out.push_str(rest);
    (out, count)
}

/// `\uD800`-`\uDFFF` escapes that are not a high-low pair, replaced by
/// `\uFFFD`.
fn replace_lone_surrogates(raw: &str) -> String {
    let escape_at = |s: &str, i: usize| -> Option<u16> {
        let hex = s.get(i..i + 6)?.strip_prefix("\\u")?;
        u16::from_str_radix(hex, 16).ok()
    };
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i..].starts_with("\\\\") {
            out.push_str("\\\\");
            i += 2;
            continue;
        }
        match escape_at(raw, i) {
            Some(0xD800..=0xDBFF)
                if escape_at(raw, i + 6).is_some_and(|low| (0xDC00..=0xDFFF).contains(&low)) =>
            {
                out.push_str(&raw[i..i + 12]);
                i += 12;
            }
            Some(0xD800..=0xDFFF) => {
                out.push_str("\\uFFFD");
                i += 6;
            }
            _ => {
                let c = raw[i..].chars().next().expect("in bounds");
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(raw: &str) -> (String, Vec<Problem>) {
        let (v, p) = custom_value(raw).unwrap();
        (v.json().to_owned(), p)
    }

    #[test]
    fn custom_values_stay_exact() {
        for exact in [
            "999999999999999999.99",
            "1e400",
            "12.5",
            "7",
            "-3",
            "0.1",
            "1300.10",
            "123456789012345678901234567890",
            "\"PO-1\"",
            "[1.10, {\"a\": 2E3}]",
        ] {
            assert_eq!(value(exact), (exact.to_owned(), vec![]), "{exact}");
        }
        assert!(custom_value("null").is_none());
    }

    #[test]
    fn nul_escapes_are_removed_and_counted() {
        assert_eq!(
            value(r#""a\u0000b\u0000""#),
            (r#""ab""#.to_owned(), vec![Problem::NulRemoved { count: 2 }])
        );
        assert_eq!(
            value(r#""\\u0000""#),
            (r#""\\u0000""#.to_owned(), vec![]),
            "an escaped backslash is text"
        );
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        assert_eq!(
            value(r#""a\ud800b""#),
            (r#""a\uFFFDb""#.to_owned(), vec![Problem::LoneSurrogate])
        );
        assert_eq!(
            value(r#""\ud83d\ude00 ok""#),
            (r#""\ud83d\ude00 ok""#.to_owned(), vec![]),
            "a pair is no repair"
        );
        assert_eq!(
            value(r#""\\ud800""#),
            (r#""\\ud800""#.to_owned(), vec![]),
            "an escaped backslash is text"
        );
    }
}
