//! One CSV file of an export on disk: its header, one streaming pass that
//! checks every row and whether the rows come in Id order, and, when they
//! do not, an index of (Id, byte offset) to serve them in Id order by
//! seeking.
//!
//! Memory: an [`Entry`] is 32 bytes. A file already in Id order keeps one
//! entry per [`MARK_EVERY`] rows (to start a read after a given Id); any
//! other file keeps one per row, allocated once at its exact size: 32 MB
//! for a million rows. Rows themselves are read again from the file, a
//! page at a time.
//!
//! Measured on a million-row `Account.csv` (83 MB, release build, pages
//! of 2,000): the peak resident memory grew by 30 MiB when the rows were
//! scrambled (the index: 32,000,000 bytes) and by 9 MiB when they were in
//! Id order (one page of records and the read buffers); the scan took
//! 0.39 s and 0.15 s, reading every page 4.3 s (a seek per row) and 1.2 s.

use std::fs::File;
use std::path::{Path, PathBuf};

use csv::{ByteRecord, Position, Reader, ReaderBuilder};

use crate::error::{Error, FieldError, Problem, Result};
use crate::id::SfId;

use super::values;

/// In a file already in Id order, one row in this many is remembered, so
/// that a read after a given Id (a resumed job) starts near it.
pub(super) const MARK_EVERY: u64 = 1024;

/// The rows of one file that are described one by one; past this, one
/// more warning counts the rest.
pub(super) const MAX_ROW_WARNINGS: usize = 100;

/// Where a row is, to read it again: its Id (18 characters), the byte
/// offset and line where it starts, and whether it is deleted. Ordered by
/// Id, then by place in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Entry {
    pub id: [u8; 18],
    pub offset: u64,
    pub line: u32,
    pub deleted: bool,
}

impl Entry {
    fn new(id: [u8; 18], at: &Position, deleted: bool) -> Entry {
        Entry {
            id,
            offset: at.byte(),
            line: u32::try_from(at.line()).unwrap_or(u32::MAX),
            deleted,
        }
    }

    /// The position to seek to.
    pub fn position(&self) -> Position {
        let mut at = Position::new();
        at.set_byte(self.offset).set_line(u64::from(self.line));
        at
    }
}

/// The 18 bytes of an id, for compact entries.
pub(super) fn id_bytes(id: &SfId) -> [u8; 18] {
    id.as_str()
        .as_bytes()
        .try_into()
        .expect("an SfId is stored in its 18-character form")
}

/// The id that [`id_bytes`] gave.
pub(super) fn id_text(id: &[u8; 18]) -> &str {
    std::str::from_utf8(id).expect("id bytes come from an SfId, which is ASCII")
}

/// How the rows of a file are served in Id order.
#[derive(Debug)]
pub(super) enum Order {
    /// Already in Id order: served by reading on. `marks` holds every
    /// [`MARK_EVERY`]th row served.
    Sorted { marks: Vec<Entry> },
    /// Not in Id order: every row served, sorted by Id.
    Indexed { index: Vec<Entry> },
}

/// What the streaming pass found.
#[derive(Debug)]
pub(super) struct Scan {
    pub order: Order,
    /// Rows served: valid, one per Id.
    pub rows: u64,
    /// Of which not deleted.
    pub live: u64,
    /// Rows skipped and Ids given twice, as warnings naming file and line.
    pub warnings: Vec<FieldError>,
}

/// A warning about a row: `field` of the row at `line`.
pub(super) fn row_warning(field: &str, expected: String, found: &str) -> FieldError {
    FieldError::new(field.to_owned(), Problem::invalid(expected, found))
}

/// Warnings, at most [`MAX_ROW_WARNINGS`] of them, then a count.
#[derive(Debug, Default)]
pub(super) struct Capped {
    list: Vec<FieldError>,
    more: u64,
}

impl Capped {
    pub fn push(&mut self, warning: FieldError) {
        if self.list.len() < MAX_ROW_WARNINGS {
            self.list.push(warning);
        } else {
            self.more += 1;
        }
    }

    pub fn finish(mut self, label: &str) -> Vec<FieldError> {
        if self.more > 0 {
            self.list.push(row_warning(
                "Id",
                format!(
                    "rows of {label} that can be read; {} more problem rows are not listed \
                     one by one",
                    self.more
                ),
                &format!("{} more", self.more),
            ));
        }
        self.list
    }
}

/// One CSV file: its header and where its data starts.
#[derive(Debug)]
pub(super) struct CsvFile {
    /// How messages name it: its path, or its entry and the zip.
    pub label: String,
    /// The file on disk (a zip entry is copied to a temporary file first).
    pub path: PathBuf,
    /// Column names, without a byte-order mark.
    pub headers: Vec<String>,
    pub id_col: usize,
    pub deleted_col: Option<usize>,
    /// Where the first row after the header starts.
    pub data_start: Position,
}

fn io_error(what: String, e: impl Into<crate::error::BoxError>) -> Error {
    Error::source(what, e).permanent()
}

fn csv_error(label: &str, e: csv::Error) -> Error {
    let line = e.position().map(|p| format!(" line {}", p.line()));
    io_error(format!("reading {label}{}", line.unwrap_or_default()), e)
}

impl CsvFile {
    /// Reads the header of the CSV at `path`.
    pub fn open(label: String, path: &Path) -> Result<CsvFile> {
        let file = File::open(path).map_err(|e| io_error(format!("opening {label}"), e))?;
        let mut reader = builder().from_reader(file);
        let mut header = ByteRecord::new();
        if !reader
            .read_byte_record(&mut header)
            .map_err(|e| csv_error(&label, e))?
        {
            return Err(invalid(format!(
                "{label} is empty: a Data Export CSV starts with a header of field names"
            )));
        }
        let mut headers = Vec::with_capacity(header.len());
        for (i, raw) in header.iter().enumerate() {
            let name = std::str::from_utf8(raw).map_err(|e| {
                io_error(
                    format!(
                        "reading the header of {label}: column {} is not UTF-8",
                        i + 1
                    ),
                    e,
                )
            })?;
            let name = if i == 0 {
                name.strip_prefix('\u{feff}').unwrap_or(name)
            } else {
                name
            };
            headers.push(name.trim().to_owned());
        }
        let data_start = reader.position().clone();
        let mut file = CsvFile {
            label,
            path: path.to_owned(),
            headers,
            id_col: 0,
            deleted_col: None,
            data_start,
        };
        file.id_col = file.column("Id").ok_or_else(|| {
            invalid(format!(
                "{} has no Id column (its header: {})",
                file.label,
                cut(&file.headers.join(","), 200)
            ))
        })?;
        file.deleted_col = file.column("IsDeleted");
        Ok(file)
    }

    /// The column of a field: its exact name, else ignoring ASCII case
    /// (Data Loader upper-cases headers).
    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name).or_else(|| {
            self.headers
                .iter()
                .position(|h| h.eq_ignore_ascii_case(name))
        })
    }

    /// A reader at the first row.
    pub fn reader(&self) -> Result<Reader<File>> {
        self.reader_at(self.data_start.clone())
    }

    /// A reader at `at` (a position this file's readers gave).
    pub fn reader_at(&self, at: Position) -> Result<Reader<File>> {
        let file =
            File::open(&self.path).map_err(|e| io_error(format!("opening {}", self.label), e))?;
        let mut reader = builder().from_reader(file);
        reader.seek(at).map_err(|e| csv_error(&self.label, e))?;
        Ok(reader)
    }

    /// Reads the next row; `false` at the end.
    pub fn next(&self, reader: &mut Reader<File>, row: &mut ByteRecord) -> Result<bool> {
        reader
            .read_byte_record(row)
            .map_err(|e| csv_error(&self.label, e))
    }

    /// Reads the row at `entry`, seeking only when the reader is elsewhere.
    pub fn read_at(
        &self,
        reader: &mut Reader<File>,
        entry: &Entry,
        row: &mut ByteRecord,
    ) -> Result<()> {
        if reader.position().byte() != entry.offset {
            reader
                .seek(entry.position())
                .map_err(|e| csv_error(&self.label, e))?;
        }
        let read = self.next(reader, row)?;
        let same = read && self.check(row).is_ok_and(|(id, _)| id == entry.id);
        if !same {
            return Err(invalid(format!(
                "{} changed while it was read: line {} is no longer the row of Id {}",
                self.label,
                entry.line,
                id_text(&entry.id)
            )));
        }
        Ok(())
    }

    /// The line a row read by this file's readers starts on.
    pub fn line(row: &ByteRecord) -> u64 {
        row.position().map_or(0, Position::line)
    }

    /// A row's Id and whether it is deleted, or why it is skipped: a
    /// column count unlike the header's, or an Id that is missing or not
    /// a Salesforce id.
    pub fn check(&self, row: &ByteRecord) -> std::result::Result<([u8; 18], bool), FieldError> {
        let line = Self::line(row);
        let raw_id = row.get(self.id_col).unwrap_or_default();
        let raw_id = String::from_utf8_lossy(raw_id);
        let raw_id = raw_id.trim();
        if row.len() != self.headers.len() {
            let field = self
                .headers
                .get(row.len())
                .or(self.headers.last())
                .map_or("Id", String::as_str);
            let record = if raw_id.is_empty() {
                String::new()
            } else {
                format!(" (record {raw_id})")
            };
            return Err(row_warning(
                field,
                format!(
                    "{} columns as in the header: {} line {line}{record} was skipped",
                    self.headers.len(),
                    self.label
                ),
                &format!("{} columns", row.len()),
            ));
        }
        let id = SfId::parse(raw_id).map_err(|_| {
            row_warning(
                "Id",
                format!("a Salesforce id: {} line {line} was skipped", self.label),
                raw_id,
            )
        })?;
        let deleted = self
            .deleted_col
            .and_then(|c| row.get(c))
            .is_some_and(values::is_true);
        Ok((id_bytes(&id), deleted))
    }

    /// The streaming pass, and a second one to build the index when the
    /// rows are not in Id order.
    pub fn scan(&self) -> Result<Scan> {
        let mut warnings = Capped::default();
        let mut duplicates = Capped::default();
        let mut reader = self.reader()?;
        let mut row = ByteRecord::new();
        let (mut valid, mut served, mut live) = (0u64, 0u64, 0u64);
        let mut sorted = true;
        let mut previous: Option<([u8; 18], u64)> = None;
        let mut marks = Vec::new();
        while self.next(&mut reader, &mut row)? {
            let (id, deleted) = match self.check(&row) {
                Ok(ok) => ok,
                Err(w) => {
                    warnings.push(w);
                    continue;
                }
            };
            valid += 1;
            let line = Self::line(&row);
            if let Some((before, first)) = previous {
                if id < before {
                    sorted = false;
                } else if id == before && sorted {
                    duplicates.push(self.duplicate(&id, first, line));
                    continue;
                }
            }
            if previous.is_none_or(|(before, _)| before != id) {
                previous = Some((id, line));
            }
            if sorted {
                if served % MARK_EVERY == 0 {
                    let at = row.position().cloned().unwrap_or_else(Position::new);
                    marks.push(Entry::new(id, &at, deleted));
                }
                served += 1;
                live += u64::from(!deleted);
            }
        }
        if sorted {
            let mut all = warnings.finish(&self.label);
            all.extend(duplicates.finish(&self.label));
            return Ok(Scan {
                order: Order::Sorted { marks },
                rows: served,
                live,
                warnings: all,
            });
        }

        // Not in Id order: every valid row's place, sorted by Id.
        let mut index = Vec::with_capacity(usize::try_from(valid).unwrap_or(usize::MAX));
        let mut reader = self.reader()?;
        while self.next(&mut reader, &mut row)? {
            if let Ok((id, deleted)) = self.check(&row) {
                let at = row.position().cloned().unwrap_or_else(Position::new);
                index.push(Entry::new(id, &at, deleted));
            }
        }
        index.sort_unstable();
        let mut duplicates = Capped::default();
        let mut kept = 0;
        for i in 0..index.len() {
            if kept > 0 && index[kept - 1].id == index[i].id {
                let first = &index[kept - 1];
                duplicates.push(self.duplicate(
                    &first.id,
                    u64::from(first.line),
                    u64::from(index[i].line),
                ));
                continue;
            }
            index[kept] = index[i];
            kept += 1;
        }
        index.truncate(kept);
        let live = index.iter().filter(|e| !e.deleted).count() as u64;
        let mut all = warnings.finish(&self.label);
        all.extend(duplicates.finish(&self.label));
        Ok(Scan {
            rows: index.len() as u64,
            live,
            order: Order::Indexed { index },
            warnings: all,
        })
    }

    fn duplicate(&self, id: &[u8; 18], first: u64, line: u64) -> FieldError {
        row_warning(
            "Id",
            format!(
                "one row per record: {} line {line} has the Id of line {first}, and only \
                 line {first} is served",
                self.label
            ),
            id_text(id),
        )
    }
}

/// Flexible (rows of any length are read, and checked here), no header
/// handling (the header is read as a row, so positions stay the file's).
fn builder() -> ReaderBuilder {
    let mut b = ReaderBuilder::new();
    b.has_headers(false).flexible(true);
    b
}

/// A permanent [`Error::Source`] whose message says it all.
pub(super) fn invalid(message: String) -> Error {
    let cause = std::io::Error::new(std::io::ErrorKind::InvalidData, message.clone());
    Error::source(message, cause).permanent()
}

/// At most `max` characters of `s`, with `…` when cut.
pub(super) fn cut(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}
