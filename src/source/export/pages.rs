//! Pages of an export's file: read on in a file already in Id order,
//! through the index in any other, and a sync read's rows in
//! `(SystemModstamp, Id)` order; each row turned into the record REST
//! would give.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use csv::ByteRecord;

use super::scan::{CsvFile, Entry, Order, cut, id_bytes, id_text, invalid, row_warning};
use super::{Plan, Prepared, SyncIndex, io_error, lock, values};
use crate::error::{FieldError, Result};
use crate::id::SfId;
use crate::object::SObject;
use crate::record::SfRecord;
use crate::source::{Cursor, Page, PageRequest};

/// What this source's cursors start with.
const CURSOR: &str = "export:";

/// The number in a cursor `export:<kind>:<n>`.
fn parse_cursor(cursor: &Cursor, kind: &str) -> Result<usize> {
    cursor
        .as_str()
        .strip_prefix(CURSOR)
        .and_then(|rest| rest.strip_prefix(kind))
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            invalid(format!(
                "not a cursor of this read of a Data Export: {:?}",
                cut(cursor.as_str(), 80)
            ))
        })
}

/// A page of a sync read, from the rows changed since, in
/// `(SystemModstamp, Id)` order.
pub(super) fn sync_page(
    prep: &Prepared,
    request: &PageRequest,
    rows: &Rows<'_>,
    warnings: &mut Vec<FieldError>,
) -> Result<Page> {
    let since = request
        .changed_since
        .expect("sync_page is called for sync reads only");
    let Some(stamp_col) = prep.stamp_col else {
        return Err(invalid(format!(
            "{} has neither a SystemModstamp nor a LastModifiedDate column, so a sync \
             cannot tell which records changed: run a full import of this export instead",
            prep.file.label
        )));
    };
    let index = {
        let mut cached = lock(&prep.sync);
        match &*cached {
            Some(c) if c.since == since && c.include_deleted == request.include_deleted => {
                c.rows.clone()
            }
            _ => {
                let built = Arc::new(sync_rows(prep, stamp_col, since, request.include_deleted)?);
                *cached = Some(SyncIndex {
                    since,
                    include_deleted: request.include_deleted,
                    rows: built.clone(),
                });
                built
            }
        }
    };
    let start = match &request.cursor {
        Some(cursor) => parse_cursor(cursor, "y")?,
        None => index.partition_point(|(stamp, e)| {
            let id = SfId::parse(id_text(&e.id)).expect("index ids are valid");
            !request.wants(Some(*stamp), &id)
        }),
    };
    let start = start.min(index.len());
    let mut reader = rows.file.reader()?;
    let mut row = ByteRecord::new();
    let mut records = Vec::new();
    let mut next = None;
    for (i, (_, entry)) in index.iter().enumerate().skip(start) {
        if records.len() == request.page_size {
            next = Some(Cursor::new(format!("{CURSOR}y:{i}")));
            break;
        }
        rows.file.read_at(&mut reader, entry, &mut row)?;
        if let Some(record) = rows.record(&row, &entry.id, warnings)? {
            records.push(record);
        }
    }
    let total = request
        .cursor
        .is_none()
        .then(|| (index.len() - start) as u64);
    Ok(Page::new(records, next, total))
}

/// The rows a sync read serves: changed at or after `since`, one per Id
/// (the row the full read serves), sorted by `(SystemModstamp, Id)`.
fn sync_rows(
    prep: &Prepared,
    stamp_col: usize,
    since: DateTime<Utc>,
    include_deleted: bool,
) -> Result<Vec<(DateTime<Utc>, Entry)>> {
    let file = &prep.file;
    let mut reader = file.reader()?;
    let mut row = ByteRecord::new();
    let mut out = Vec::new();
    let mut previous: Option<[u8; 18]> = None;
    while file.next(&mut reader, &mut row)? {
        let Ok((id, deleted)) = file.check(&row) else {
            continue;
        };
        // The row the full read serves for this Id, and no other.
        let at = row.position().cloned().unwrap_or_else(csv::Position::new);
        let served = match &prep.scan.order {
            Order::Sorted { .. } => previous != Some(id),
            Order::Indexed { index } => index
                .binary_search_by(|e| e.id.cmp(&id))
                .is_ok_and(|i| index[i].offset == at.byte()),
        };
        previous = Some(id);
        if !served || (deleted && !include_deleted) {
            continue;
        }
        let stamp = row
            .get(stamp_col)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(values::stamp);
        if let Some(stamp) = stamp.filter(|s| *s >= since) {
            let line = u32::try_from(at.line()).unwrap_or(u32::MAX);
            out.push((
                stamp,
                Entry {
                    id,
                    offset: at.byte(),
                    line,
                    deleted,
                },
            ));
        }
    }
    out.sort_unstable_by_key(|a| (a.0, a.1.id));
    Ok(out)
}

/// A page of a file already in Id order: read on from the cursor, or from
/// the last mark at or before `after`.
pub(super) fn sorted_page(
    prep: &Prepared,
    marks: &[Entry],
    request: &PageRequest,
    rows: &Rows<'_>,
    warnings: &mut Vec<FieldError>,
) -> Result<Page> {
    let file = rows.file;
    let after = request.after.as_ref().map(id_bytes);
    let mut reader = match &request.cursor {
        Some(cursor) => {
            let (byte, line) = sorted_cursor(cursor).ok_or_else(|| {
                invalid(format!(
                    "not a cursor of this read of a Data Export: {:?}",
                    cut(cursor.as_str(), 80)
                ))
            })?;
            let mut at = csv::Position::new();
            at.set_byte(byte).set_line(line);
            file.reader_at(at)?
        }
        None => {
            let start = after
                .map(|a| marks.partition_point(|m| m.id <= a))
                .filter(|&n| n > 0)
                .map(|n| marks[n - 1].position());
            match start {
                Some(at) => file.reader_at(at)?,
                None => file.reader()?,
            }
        }
    };
    let mut row = ByteRecord::new();
    let mut records = Vec::new();
    let mut next = None;
    let mut previous: Option<[u8; 18]> = None;
    while file.next(&mut reader, &mut row)? {
        // Rows skipped here were warned about when the file was scanned.
        let Ok((id, deleted)) = file.check(&row) else {
            continue;
        };
        if after.is_some_and(|a| id <= a) || previous == Some(id) {
            continue;
        }
        previous = Some(id);
        if deleted && !request.include_deleted {
            continue;
        }
        if records.len() == request.page_size {
            let at = row.position().cloned().unwrap_or_else(csv::Position::new);
            next = Some(Cursor::new(format!(
                "{CURSOR}s:{}:{}",
                at.byte(),
                at.line()
            )));
            break;
        }
        if let Some(record) = rows.record(&row, &id, warnings)? {
            records.push(record);
        }
    }
    let served = if request.include_deleted {
        prep.scan.rows
    } else {
        prep.scan.live
    };
    let total = (request.cursor.is_none() && after.is_none()).then_some(served);
    Ok(Page::new(records, next, total))
}

/// `export:s:<byte>:<line>`.
fn sorted_cursor(cursor: &Cursor) -> Option<(u64, u64)> {
    let rest = cursor.as_str().strip_prefix(CURSOR)?.strip_prefix("s:")?;
    let (byte, line) = rest.split_once(':')?;
    Some((byte.parse().ok()?, line.parse().ok()?))
}

/// A page of an indexed file: from the cursor's place in the index, or
/// after `after`.
pub(super) fn indexed_page(
    index: &[Entry],
    request: &PageRequest,
    rows: &Rows<'_>,
    warnings: &mut Vec<FieldError>,
) -> Result<Page> {
    let start = match (&request.cursor, &request.after) {
        (Some(cursor), _) => parse_cursor(cursor, "i")?.min(index.len()),
        (None, Some(after)) => {
            let after = id_bytes(after);
            index.partition_point(|e| e.id <= after)
        }
        (None, None) => 0,
    };
    let mut reader = rows.file.reader()?;
    let mut row = ByteRecord::new();
    let mut records = Vec::new();
    let mut next = None;
    for (i, entry) in index.iter().enumerate().skip(start) {
        if entry.deleted && !request.include_deleted {
            continue;
        }
        if records.len() == request.page_size {
            next = Some(Cursor::new(format!("{CURSOR}i:{i}")));
            break;
        }
        rows.file.read_at(&mut reader, entry, &mut row)?;
        if let Some(record) = rows.record(&row, &entry.id, warnings)? {
            records.push(record);
        }
    }
    let total = request.cursor.is_none().then(|| {
        index[start..]
            .iter()
            .filter(|e| request.include_deleted || !e.deleted)
            .count() as u64
    });
    Ok(Page::new(records, next, total))
}

/// Turns rows into records for one read.
pub(super) struct Rows<'a> {
    pub file: &'a CsvFile,
    pub plan: &'a Plan,
    pub standard: Option<&'a HashMap<SfId, bool>>,
    pub object: &'a SObject,
}

impl Rows<'_> {
    /// The record of a row, with the selected fields; `None` (and a
    /// warning) when a selected value is not UTF-8. A date that cannot be
    /// read is kept as it is, with a warning.
    fn record(
        &self,
        row: &ByteRecord,
        id: &[u8; 18],
        warnings: &mut Vec<FieldError>,
    ) -> Result<Option<SfRecord>> {
        let line = CsvFile::line(row);
        let mut cells: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(self.plan.cells.len() + 1);
        for (field, col, date) in &self.plan.cells {
            let raw = row.get(*col).unwrap_or_default();
            let Ok(value) = std::str::from_utf8(raw) else {
                warnings.push(row_warning(
                    field,
                    format!(
                        "UTF-8 text (export with UTF-8 encoding): {} line {line} (record {}) \
                         was skipped",
                        self.file.label,
                        id_text(id)
                    ),
                    &String::from_utf8_lossy(raw),
                ));
                return Ok(None);
            };
            let value = if *date {
                match values::check_date(value) {
                    Some(v) => v,
                    None => {
                        warnings.push(row_warning(
                            field,
                            format!(
                                "a date (2024-01-31) or datetime (2024-01-31T10:00:00.000Z) \
                                 at {} line {line}, record {}; kept as it is",
                                self.file.label,
                                id_text(id)
                            ),
                            value,
                        ));
                        Cow::Borrowed(value)
                    }
                }
            } else {
                Cow::Borrowed(value)
            };
            cells.push((field.as_str(), value));
        }
        if let (Some((field, col)), Some(standard)) = (&self.plan.join, self.standard) {
            let pricebook = row
                .get(*col)
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| SfId::parse(v.trim()).ok());
            let value = match pricebook.and_then(|p| standard.get(&p)) {
                Some(true) => "true",
                Some(false) => "false",
                None => "",
            };
            cells.push((field.as_str(), Cow::Borrowed(value)));
        }
        let record =
            SfRecord::from_csv_cells(self.object, cells.iter().map(|(f, v)| (*f, v.as_ref())))
                .map_err(|e| {
                    io_error(
                        format!("{} line {line}: the row is not a record", self.file.label),
                        e,
                    )
                })?;
        Ok(Some(record))
    }
}
