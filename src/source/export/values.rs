//! Cell values of a Data Export: which columns hold dates and datetimes,
//! and the spellings of them that are accepted.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::record::parse_datetime;

/// Whether a field holds a date or a datetime, by Salesforce's naming:
/// standard ones end in `Date` (`CloseDate`, `CreatedDate`) or `Modstamp`,
/// custom ones the same before `__c` (`Renewal_Date__c`,
/// `Signed_DateTime__c`). Case matters (`Update__c` is not one): the name
/// is the field's API spelling as the mapper asks it, not the header's.
pub(super) fn date_like(field: &str) -> bool {
    let name = field.strip_suffix("__c").unwrap_or(field);
    name.ends_with("Date") || name.ends_with("DateTime") || name.ends_with("Modstamp")
}

/// A date or datetime cell checked: kept as it is when the record getters
/// read it (`2024-01-31`, `2024-01-31T10:00:00.000Z`,
/// `2024-01-31T10:00:00.000+0000`), rewritten to ISO 8601 from the spelling
/// some exports and spreadsheets write (`2024-01-31 10:00:00`, UTC), and
/// `None` when it is neither.
pub(super) fn check_date(value: &str) -> Option<Cow<'_, str>> {
    let t = value.trim();
    if t.is_empty()
        || NaiveDate::parse_from_str(t, "%Y-%m-%d").is_ok()
        || parse_datetime(t).is_some()
    {
        return Some(Cow::Borrowed(value));
    }
    spaced_datetime(t).map(|at| Cow::Owned(at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()))
}

/// A `SystemModstamp` (or `LastModifiedDate`) cell as an instant.
pub(super) fn stamp(value: &str) -> Option<DateTime<Utc>> {
    let t = value.trim();
    parse_datetime(t).or_else(|| spaced_datetime(t))
}

/// `2024-01-31 10:00:00` (seconds, fractions and an offset optional; no
/// offset means UTC, as Salesforce writes every datetime).
fn spaced_datetime(t: &str) -> Option<DateTime<Utc>> {
    for fmt in ["%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%:z"] {
        if let Ok(at) = DateTime::parse_from_str(t, fmt) {
            return Some(at.with_timezone(&Utc));
        }
    }
    let t = t.strip_suffix('Z').unwrap_or(t);
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|fmt| NaiveDateTime::parse_from_str(t, fmt).ok())
        .map(|n| n.and_utc())
}

/// Whether a checkbox cell (`IsDeleted`, `IsStandard`) is checked:
/// `true` in any case, or `1`.
pub(super) fn is_true(value: &[u8]) -> bool {
    value.eq_ignore_ascii_case(b"true") || value == b"1"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_fields_by_name() {
        for f in [
            "CloseDate",
            "CreatedDate",
            "SystemModstamp",
            "Renewal_Date__c",
            "Signed_DateTime__c",
        ] {
            assert!(date_like(f), "{f}");
        }
        for f in ["Name", "Update__c", "Candidate", "Id", "IsDeleted"] {
            assert!(!date_like(f), "{f}");
        }
    }

    #[test]
    fn date_spellings() {
        let cases = [
            ("2024-01-31", Some("2024-01-31")),
            ("2024-01-31T10:00:00.000Z", Some("2024-01-31T10:00:00.000Z")),
            (
                "2024-01-31T10:00:00.000+0000",
                Some("2024-01-31T10:00:00.000+0000"),
            ),
            ("2024-01-31 10:00:00", Some("2024-01-31T10:00:00.000Z")),
            ("2024-01-31 10:00", Some("2024-01-31T10:00:00.000Z")),
            ("2024-01-31 10:00:00.5", Some("2024-01-31T10:00:00.500Z")),
            ("2024-01-31 12:00:00+0200", Some("2024-01-31T10:00:00.000Z")),
            ("", Some("")),
            ("31/01/2024", None),
            ("2024-02-30", None),
            ("soon", None),
        ];
        for (raw, want) in cases {
            assert_eq!(check_date(raw).as_deref(), want, "{raw:?}");
        }
        assert_eq!(
            stamp("2024-01-31 10:00:00").map(|t| t.to_rfc3339()),
            Some("2024-01-31T10:00:00+00:00".to_owned())
        );
        assert_eq!(stamp("2024-01-31"), None, "a stamp has a time");
    }
}
