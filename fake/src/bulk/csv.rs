//! Bulk API 2.0 query results as CSV: the columns a job selects, in the
//! order its SOQL names them, each record's values quoted as Salesforce
//! writes them, and the opaque locators of result sets.
//!
//! Salesforce quotes every value (`"Id","Name"` then `"001...","Acme"`),
//! doubles quotes inside values and keeps line breaks inside the quotes; a
//! null is an empty value (`""`: Salesforce stores no empty strings, so the
//! two cannot be told apart anyway), booleans are `true`/`false`, numbers
//! their plain text, dates `2026-01-31`, datetimes in UTC with a `Z`
//! (`2026-01-31T17:03:00.000Z`, where the REST API writes `+0000`).

use std::fmt::Write as _;

use super::super::org::{Data, FakeOrg};
use super::super::render::{Column, parent_record};
use super::super::schema::{FieldType, ObjectSchema};
use super::super::soql::{SoqlError, Spanned};
use super::super::store::parse_datetime;
use salesforce_import::SObject;

/// One column of a job's results.
#[derive(Debug, Clone)]
pub(crate) struct CsvColumn {
    /// `Name`, `Account.Name`: canonical names.
    header: String,
    /// A field of the record, or one field of a parent.
    column: Column,
    /// A datetime field: written `...Z`.
    datetime: bool,
}

/// The column delimiter and line ending a job was created with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Format {
    pub(crate) delimiter: &'static str,
    pub(crate) line_ending: &'static str,
}

/// The column delimiters Bulk API 2.0 knows, by name.
const DELIMITERS: [(&str, char); 6] = [
    ("BACKQUOTE", '`'),
    ("CARET", '^'),
    ("COMMA", ','),
    ("PIPE", '|'),
    ("SEMICOLON", ';'),
    ("TAB", '\t'),
];

impl Format {
    /// The format named by a job's `columnDelimiter` and `lineEnding`
    /// (defaults `COMMA`, `LF`); `None` for a name Bulk API 2.0 does not
    /// know.
    pub(crate) fn parse(delimiter: Option<&str>, line_ending: Option<&str>) -> Option<Format> {
        let &(delimiter, _) = DELIMITERS
            .iter()
            .find(|(name, _)| *name == delimiter.unwrap_or("COMMA"))?;
        let line_ending = match line_ending.unwrap_or("LF") {
            "LF" => "LF",
            "CRLF" => "CRLF",
            _ => return None,
        };
        Some(Format {
            delimiter,
            line_ending,
        })
    }

    fn delimiter_char(self) -> char {
        DELIMITERS
            .iter()
            .find(|(name, _)| *name == self.delimiter)
            .map_or(',', |(_, c)| *c)
    }

    fn eol(self) -> &'static str {
        if self.line_ending == "CRLF" {
            "\r\n"
        } else {
            "\n"
        }
    }
}

/// Resolves the selected fields, one column each in the order named (as
/// Bulk API 2.0 orders columns from API version 50.0 on).
pub(crate) fn columns(
    org: &FakeOrg,
    schema: &ObjectSchema,
    fields: &[Spanned],
    soql: &str,
) -> Result<Vec<CsvColumn>, SoqlError> {
    fields
        .iter()
        .map(|field| {
            let column = org
                .columns(schema, std::slice::from_ref(field), soql)?
                .pop()
                .expect("one field resolves to one column");
            let is_datetime = |schema: Option<&ObjectSchema>, name: &str| {
                schema
                    .and_then(|s| s.field(name))
                    .is_some_and(|f| f.kind == FieldType::Datetime)
            };
            let (header, datetime) = match &column {
                Column::Field(name) => (name.clone(), is_datetime(Some(schema), name)),
                Column::Parent {
                    relationship,
                    target,
                    fields,
                    ..
                } => (
                    format!("{relationship}.{}", fields[0]),
                    is_datetime(org.schema(target), &fields[0]),
                ),
            };
            Ok(CsvColumn {
                header,
                column,
                datetime,
            })
        })
        .collect()
}

/// Appends the header row.
pub(crate) fn write_header(columns: &[CsvColumn], format: Format, out: &mut String) {
    for (n, column) in columns.iter().enumerate() {
        if n > 0 {
            out.push(format.delimiter_char());
        }
        out.push('"');
        push_escaped(out, &column.header);
        out.push('"');
    }
    out.push_str(format.eol());
}

/// Appends the records at these positions of the object, one row each,
/// with their current values. Renders only these records: a generated
/// org computes them from their positions.
pub(crate) fn write_rows(
    org: &FakeOrg,
    schema: &ObjectSchema,
    positions: impl Iterator<Item = u64>,
    columns: &[CsvColumn],
    format: Format,
    out: &mut String,
) {
    let object = schema.name.as_str();
    let delimiter = format.delimiter_char();
    match &org.data {
        Data::Generated(g) => {
            let mut raw = String::new();
            for i in positions {
                for (n, column) in columns.iter().enumerate() {
                    if n > 0 {
                        out.push(delimiter);
                    }
                    raw.clear();
                    match &column.column {
                        Column::Field(name) => g.write_value(object, name, i, &mut raw),
                        Column::Parent {
                            reference_field,
                            fields,
                            ..
                        } => match g.reference(object, reference_field, i) {
                            Some((target, j)) => g.write_value(target, &fields[0], j, &mut raw),
                            None => raw.push_str("null"),
                        },
                    }
                    push_value(out, &raw, column.datetime);
                }
                out.push_str(format.eol());
            }
        }
        Data::Files(_) => {
            let source = org.read();
            let records = source.sorted(&SObject::new(object));
            for i in positions {
                let (_, record) = &records[i as usize];
                for (n, column) in columns.iter().enumerate() {
                    if n > 0 {
                        out.push(delimiter);
                    }
                    match &column.column {
                        Column::Field(name) => {
                            push_value(
                                out,
                                record.raw_field(name).unwrap_or("null"),
                                column.datetime,
                            );
                        }
                        Column::Parent {
                            relationship,
                            reference_field,
                            target,
                            fields,
                        } => {
                            let parent = parent_record(
                                &source,
                                record,
                                relationship,
                                reference_field,
                                target,
                            );
                            let raw = parent
                                .as_ref()
                                .and_then(|(_, p)| p.raw_field(&fields[0]))
                                .unwrap_or("null");
                            push_value(out, raw, column.datetime);
                        }
                    }
                }
                out.push_str(format.eol());
            }
        }
    }
}

/// Appends one value, given as its JSON text, quoted.
fn push_value(out: &mut String, raw: &str, datetime: bool) {
    out.push('"');
    if raw.starts_with('"') {
        let text: String = serde_json::from_str(raw).unwrap_or_default();
        match datetime.then(|| parse_datetime(&text)).flatten() {
            Some(at) => {
                let _ = write!(out, "{}", at.format("%Y-%m-%dT%H:%M:%S%.3fZ"));
            }
            None => push_escaped(out, &text),
        }
    } else if raw != "null" {
        // true, false, a number (or a compound value's JSON, as is).
        push_escaped(out, raw);
    }
    out.push('"');
}

/// Appends text with its double quotes doubled.
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The locator of the result set starting at `offset`: the offset in
/// base 64 without padding, as Salesforce's own (`MTAwMDA` is `10000`).
/// Only digits are encoded, so neither `+` nor `/` appears.
pub(crate) fn encode_locator(offset: u64) -> String {
    let text = offset.to_string();
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let byte = |k: usize| u32::from(chunk.get(k).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for k in 0..=chunk.len() {
            out.push(char::from(BASE64[(n >> (18 - 6 * k)) as usize & 63]));
        }
    }
    out
}

/// The offset a locator names, if it is one this fake hands out.
pub(crate) fn decode_locator(locator: &str) -> Option<u64> {
    let mut bytes = Vec::new();
    let (mut bits, mut count) = (0u32, 0u32);
    for c in locator.trim_end_matches('=').bytes() {
        let value = BASE64.iter().position(|&b| b == c)? as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            bytes.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(&bytes).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(fields: &[&str]) -> Vec<Spanned> {
        fields
            .iter()
            .map(|f| Spanned {
                text: (*f).to_owned(),
                at: 0,
            })
            .collect()
    }

    #[test]
    fn locators_are_base64_offsets() {
        assert_eq!(encode_locator(10_000), "MTAwMDA");
        for n in [0, 1, 9, 10, 99, 123, 2000, 49_999, 1_000_000, u64::MAX] {
            assert_eq!(decode_locator(&encode_locator(n)), Some(n), "{n}");
        }
        assert_eq!(decode_locator("MTAwMDA="), Some(10_000));
        for bad in ["", "null", "!!", "YWJj", "MTAw MDA"] {
            assert_eq!(decode_locator(bad), None, "{bad}");
        }
    }

    #[test]
    fn values_are_quoted_as_salesforce_writes_them() {
        let mut out = String::new();
        for (raw, datetime) in [
            ("\"say \\\"hi\\\"\\nbye\"", false),
            ("null", false),
            ("true", false),
            ("12.50", false),
            ("\"2026-01-31\"", false),
            ("\"2026-01-31T18:03:00.000+0100\"", true),
        ] {
            push_value(&mut out, raw, datetime);
            out.push(',');
        }
        assert_eq!(
            out,
            "\"say \"\"hi\"\"\nbye\",\"\",\"true\",\"12.50\",\"2026-01-31\",\
             \"2026-01-31T17:03:00.000Z\","
        );
    }

    #[test]
    fn columns_keep_the_order_named() {
        let org = FakeOrg::sample();
        let contact = org.schema("contact").unwrap();
        let cols = columns(
            &org,
            contact,
            &spans(&[
                "account.name",
                "id",
                "Account.CreatedDate",
                "SystemModstamp",
            ]),
            "q",
        )
        .unwrap();
        let headers: Vec<&str> = cols.iter().map(|c| c.header.as_str()).collect();
        assert_eq!(
            headers,
            [
                "Account.Name",
                "Id",
                "Account.CreatedDate",
                "SystemModstamp"
            ]
        );
        let datetimes: Vec<bool> = cols.iter().map(|c| c.datetime).collect();
        assert_eq!(datetimes, [false, false, true, true]);
        let format = Format::parse(Some("PIPE"), Some("CRLF")).unwrap();
        let mut out = String::new();
        write_header(&cols, format, &mut out);
        assert_eq!(
            out,
            "\"Account.Name\"|\"Id\"|\"Account.CreatedDate\"|\"SystemModstamp\"\r\n"
        );
        assert!(Format::parse(Some("COLON"), None).is_none());
        assert!(Format::parse(None, Some("CR")).is_none());
    }
}
