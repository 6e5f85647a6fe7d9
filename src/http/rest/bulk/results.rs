//! Bulk API 2.0 result sets (CSV) as the records REST gives.

use crate::error::{Error, Result};
use crate::object::SObject;
use crate::record::SfRecord;

/// A Bulk API CSV result set as records: the header names the fields
/// (`Account.Name` a relationship's), an empty value is null, every other
/// value a JSON string, typed later by the same [`SfRecord`] getters as
/// REST's JSON.
pub(super) fn csv_records(object: &SObject, body: &[u8]) -> Result<Vec<SfRecord>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(body);
    let bad = |e: csv::Error| Error::BadResponse {
        request: format!("Bulk API results for {object}"),
        problem: "not the CSV expected".into(),
        source: Some(Box::new(e)),
    };
    let headers = reader.headers().map_err(bad)?.clone();
    let mut out = Vec::new();
    let mut row = csv::StringRecord::new();
    while reader.read_record(&mut row).map_err(bad)? {
        let record = SfRecord::from_csv_cells(object, headers.iter().zip(row.iter()));
        out.push(record.map_err(|e| Error::BadResponse {
            request: format!("Bulk API results for {object}"),
            problem: "a row that is not a record".into(),
            source: Some(Box::new(e)),
        })?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_read_like_rest_json() {
        let csv = "\"Id\",\"Name\",\"AnnualRevenue\",\"IsDeleted\",\"SystemModstamp\",\"Parent.Name\",\"Owner.Name\"\n\
                   \"001000000000001AAA\",\"Acme, \"\"the\"\" one\nline two\",\"999999999999999999.99\",\"false\",\"2026-01-31T17:03:00.000Z\",\"\",\"Ada\"\n\
                   \"001000000000002AAA\",\"\",\"\",\"true\",\"2026-02-01T00:00:00.000Z\",\"Acme\",\"\"\n";
        let rows = csv_records(&SObject::ACCOUNT, csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        let a = &rows[0];
        assert_eq!(a.id().unwrap().as_str(), "001000000000001AAA");
        assert_eq!(
            a.text("Name").unwrap().as_deref(),
            Some("Acme, \"the\" one\nline two")
        );
        assert_eq!(
            a.decimal("AnnualRevenue").unwrap().unwrap().to_string(),
            "999999999999999999.99"
        );
        assert!(!a.is_deleted());
        assert_eq!(
            a.modstamp().unwrap().to_rfc3339(),
            "2026-01-31T17:03:00+00:00"
        );
        assert_eq!(
            a.raw_field("Parent"),
            Some("null"),
            "an empty lookup is null"
        );
        assert_eq!(a.text("Owner.Name").unwrap().as_deref(), Some("Ada"));
        assert_eq!(a.object(), Some(SObject::ACCOUNT));
        let b = &rows[1];
        assert_eq!(b.text("Name").unwrap(), None, "empty is null");
        assert_eq!(b.decimal("AnnualRevenue").unwrap(), None);
        assert!(b.is_deleted());
        assert_eq!(b.text("Parent.Name").unwrap().as_deref(), Some("Acme"));
    }

    #[test]
    fn a_header_only_set_is_no_records_and_garbage_is_an_error() {
        assert!(
            csv_records(&SObject::ACCOUNT, b"\"Id\",\"Name\"\n")
                .unwrap()
                .is_empty()
        );
        let err = csv_records(&SObject::ACCOUNT, b"\"Id\",\"Name\"\n\"001\"\n").unwrap_err();
        assert!(matches!(err, Error::BadResponse { .. }), "{err}");
    }
}
