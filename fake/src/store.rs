//! The records of a file-backed org, each with its 18-character id, in id
//! order, and what keeps them that way as they change: system fields,
//! Salesforce's timestamp format, ids for new records.
//!
//! Records are only ever appended (a new id sorts after every other of its
//! object) and deletion is soft, so a record's position never changes: a
//! query's snapshot of positions stays valid while the org changes.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use crate::generated::BASE62;
use salesforce_import::{FileSource, SObject, SfId, SfRecord};

/// The stamps of records loaded without them: `2025-01-01T00:00:00.000+0000`.
pub(crate) fn base_time() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2025, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("a valid date")
        .and_utc()
}

/// The clock of an org with no record: 2026-01-01T00:00:00Z.
pub(crate) fn empty_org_time() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2026, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("a valid date")
        .and_utc()
}

/// Salesforce's datetime format: `2026-01-01T00:00:00.000+0000`.
pub(crate) fn format_stamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string()
}

/// A datetime as a record carries it (`"2026-01-01T00:00:00.000+0000"`,
/// raw JSON text), in milliseconds since the epoch.
pub(crate) fn stamp_millis(raw: &str) -> Option<i64> {
    let text: String = serde_json::from_str(raw).ok()?;
    parse_datetime(&text).map(|at| at.timestamp_millis())
}

/// Parses `...Z`, `...+00:00` and `...+0000`, with or without fractions.
pub(crate) fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(s) {
        return Some(at.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"]
        .iter()
        .find_map(|f| DateTime::parse_from_str(s, f).ok())
        .map(|at| at.with_timezone(&Utc))
}

/// Whether a record is in the recycle bin.
pub(crate) fn is_deleted(record: &SfRecord) -> bool {
    record.raw_field("IsDeleted") == Some("true")
}

/// Sets a top-level field, dropping any spelling of it in another case
/// (Data Loader exports upper-case every column).
pub(crate) fn set_field(record: &mut SfRecord, name: &str, value: Value) {
    let others: Vec<String> = record
        .field_names()
        .filter(|k| *k != name && k.eq_ignore_ascii_case(name))
        .map(str::to_owned)
        .collect();
    for key in others {
        record.remove(&key);
    }
    record.set(name, value);
}

/// Gives a loaded record the system fields every served record has:
/// `CreatedDate` (else [`base_time`]), `LastModifiedDate` (else the
/// creation), `SystemModstamp` (else the last modification), `IsDeleted`
/// (else false).
fn fill_system_fields(record: &mut SfRecord) {
    let present = |r: &SfRecord, f: &str| {
        r.raw_field(f)
            .filter(|v| *v != "null")
            .and_then(|v| serde_json::from_str::<Value>(v).ok())
    };
    let created = present(record, "CreatedDate").unwrap_or_else(|| {
        let at = Value::String(format_stamp(base_time()));
        set_field(record, "CreatedDate", at.clone());
        at
    });
    let modified = present(record, "LastModifiedDate").unwrap_or_else(|| {
        set_field(record, "LastModifiedDate", created.clone());
        created
    });
    if present(record, "SystemModstamp").is_none() {
        set_field(record, "SystemModstamp", modified);
    }
    if present(record, "IsDeleted").is_none() {
        set_field(record, "IsDeleted", Value::Bool(false));
    }
}

/// The records of an org by object, in id order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Records(HashMap<SObject, Vec<(String, SfRecord)>>);

impl Records {
    /// The records of a [`FileSource`] (those with a valid id), with their
    /// system fields filled in.
    pub(crate) fn from_source(source: &FileSource) -> Records {
        let by_object = source
            .objects()
            .map(|object| {
                let records = source
                    .records(object)
                    .filter_map(|r| Some((r.id().ok()?.to_string(), r.clone())))
                    .collect();
                (object.clone(), records)
            })
            .collect();
        Records::new(by_object)
    }

    /// Records as given (in any order), sorted and with their system
    /// fields filled in.
    pub(crate) fn new(mut by_object: HashMap<SObject, Vec<(String, SfRecord)>>) -> Records {
        for records in by_object.values_mut() {
            records.sort_by(|a, b| a.0.cmp(&b.0));
            for (_, record) in records.iter_mut() {
                fill_system_fields(record);
            }
        }
        Records(by_object)
    }

    pub(crate) fn sorted(&self, object: &SObject) -> &[(String, SfRecord)] {
        self.0.get(object).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn sorted_mut(&mut self, object: &SObject) -> Option<&mut Vec<(String, SfRecord)>> {
        self.0.get_mut(object)
    }

    /// The object's records, for adding one.
    pub(crate) fn sorted_entry(&mut self, object: &SObject) -> &mut Vec<(String, SfRecord)> {
        self.0.entry(object.clone()).or_default()
    }

    /// Where the record with this (18-character) id is.
    pub(crate) fn position(&self, object: &SObject, id: &str) -> Option<usize> {
        let records = self.sorted(object);
        let at = records.partition_point(|(key, _)| key.as_str() < id);
        (records.get(at)?.0 == id).then_some(at)
    }

    /// The greatest `SystemModstamp` of any record.
    pub(crate) fn latest_stamp(&self) -> Option<DateTime<Utc>> {
        self.0
            .values()
            .flatten()
            .filter_map(|(_, r)| stamp_millis(r.raw_field("SystemModstamp")?))
            .max()
            .and_then(DateTime::from_timestamp_millis)
    }
}

/// A new 18-character id for `object` that sorts after every id in
/// `records`: the greatest one plus one (in base 62), or
/// `<prefix>000000000001` for an object without records of that prefix.
/// `None` when the greatest id cannot be incremented.
pub(crate) fn next_id(records: &[(String, SfRecord)], prefix: &str) -> Option<SfId> {
    let id15 = match records.last() {
        Some((last, _)) if last.get(..3).is_some_and(|p| p >= prefix) => increment(&last[..15])?,
        _ => format!("{prefix}000000000001"),
    };
    SfId::parse(&id15).ok()
}

/// A 15-character id plus one, its last 12 characters read as a base-62
/// number with digits in ASCII order.
fn increment(id15: &str) -> Option<String> {
    let mut bytes = id15.as_bytes().to_vec();
    for slot in bytes[3..].iter_mut().rev() {
        let digit = BASE62.iter().position(|c| c == slot)?;
        if digit + 1 < BASE62.len() {
            *slot = BASE62[digit + 1];
            return String::from_utf8(bytes).ok();
        }
        *slot = b'0';
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(ids: &[&str]) -> Vec<(String, SfRecord)> {
        ids.iter()
            .map(|i| {
                let id = SfId::parse(i).unwrap().as_str().to_owned();
                (id, SfRecord::new(SObject::ACCOUNT))
            })
            .collect()
    }

    #[test]
    fn new_ids_sort_after_the_others() {
        let cases = [
            (vec![], "001000000000001"),
            (vec!["001000000000009"], "00100000000000A"),
            (vec!["001x0000002xLCz"], "001x0000002xLD0"),
            (vec!["0015g0000000zzz"], "0015g0000001000"),
            (vec!["003000000000001"], "003000000000002"),
        ];
        for (ids, want) in cases {
            let records = keyed(&ids);
            let next = next_id(&records, "001").unwrap();
            assert_eq!(next, SfId::parse(want).unwrap(), "{ids:?}");
            if let Some((last, _)) = records.last() {
                assert!(next.as_str() > last.as_str());
            }
        }
        assert!(next_id(&keyed(&["001zzzzzzzzzzzz"]), "001").is_none());
    }

    #[test]
    fn loaded_records_get_system_fields() {
        let source = FileSource::new()
            .add_query_json(
                r#"{"totalSize":2,"done":true,"records":[
                {"attributes":{"type":"Account"},"Id":"001000000000001AAA","Name":"A"},
                {"attributes":{"type":"Account"},"Id":"001000000000002AAA","Name":"B",
                 "LASTMODIFIEDDATE":"2024-05-01T10:00:00.000+0000","IsDeleted":true}]}"#,
            )
            .unwrap();
        let records = Records::from_source(&source);
        let accounts = records.sorted(&SObject::ACCOUNT);
        let (a, b) = (&accounts[0].1, &accounts[1].1);
        assert_eq!(
            a.raw_field("SystemModstamp"),
            Some("\"2025-01-01T00:00:00.000+0000\"")
        );
        assert_eq!(a.raw_field("CreatedDate"), a.raw_field("LastModifiedDate"));
        assert!(!is_deleted(a) && is_deleted(b));
        assert_eq!(
            b.raw_field("SystemModstamp"),
            Some("\"2024-05-01T10:00:00.000+0000\"")
        );
        assert_eq!(
            records.latest_stamp().map(format_stamp).as_deref(),
            Some("2025-01-01T00:00:00.000+0000")
        );
        assert_eq!(records.position(&SObject::ACCOUNT, &accounts[1].0), Some(1));
        assert_eq!(
            records.position(&SObject::ACCOUNT, "001000000000003AAA"),
            None
        );
    }

    #[test]
    fn stamps_parse_in_every_spelling() {
        for s in [
            "\"2026-01-01T00:00:01.000+0000\"",
            "\"2026-01-01T00:00:01Z\"",
            "\"2026-01-01T00:00:01.000+00:00\"",
            "\"2026-01-01T01:00:01+0100\"",
        ] {
            assert_eq!(stamp_millis(s), Some(1_767_225_601_000), "{s}");
        }
        assert_eq!(stamp_millis("null"), None);
    }
}
