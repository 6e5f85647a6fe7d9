//! [`ExportSource`]: a Salesforce Data Export (the weekly zip of CSV files,
//! or its unpacked folder), or Data Loader CSV exports, served page by page
//! in Id order like an org would, without loading a file into memory.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use csv::ByteRecord;

use super::{Page, PageRequest, SalesforceSource};
use crate::error::{Error, FieldError, Problem, Result};
use crate::id::{SfId, TenantId};
use crate::object::SObject;

mod pages;
mod scan;
#[cfg(test)]
mod tests;
mod values;

use scan::{CsvFile, Entry, Order, Scan, id_text, invalid};

/// A [`SalesforceSource`] over a Salesforce Data Export: the zip of CSV
/// files an org without API access (Professional Edition) downloads from
/// Setup → Data Export, the folder it unpacks to, or CSV files written by
/// Data Loader with the same headers.
///
/// Each object is one file named after it (`Account.csv`, `Contact.csv`,
/// `Opportunity.csv`, `Product2.csv`, `Pricebook2.csv`,
/// `PricebookEntry.csv`, `Order.csv`, `OrderItem.csv`, `Quote.csv`,
/// `QuoteLineItem.csv`; names compared ignoring case, anywhere in the zip).
/// An object with no file is not in the export:
/// [`Error::ObjectNotAvailable`], and the import goes on with the others.
///
/// # Reading
///
/// - The header names the fields (API names; any case, so Data Loader's
///   upper-cased headers work); lookups are plain Id columns. A leading
///   UTF-8 byte-order mark is ignored; quoted values may hold commas,
///   quotes and line breaks.
/// - An empty value is `null`; every other value is text that the record
///   getters type as they do REST's JSON (exact decimals, `true`/`false`,
///   15- or 18-character ids).
/// - Dates and datetimes (fields named `…Date`, `…DateTime`, `…Modstamp`,
///   custom ones too) are read as `2024-01-31`,
///   `2024-01-31T10:00:00.000Z` or `2024-01-31T10:00:00.000+0000`, and
///   `2024-01-31 10:00:00` (as some exports and spreadsheets write it;
///   UTC) is rewritten to `2024-01-31T10:00:00.000Z`. Any other value is
///   kept as it is (the mapper then rejects the record, naming the field)
///   and a warning names the file, the line, the record and the field.
/// - A row whose column count differs from the header's, whose Id is not a
///   Salesforce id, or whose selected values are not UTF-8 is skipped with
///   a warning naming the file and line; a second row with the same Id is
///   skipped with a warning naming both lines. The rest of the file is
///   served. Warnings about the file come with the first page of each
///   read, warnings about a row with the page that holds it; the engine
///   logs them against the object.
/// - A selected field with no column is left out with a
///   [`Problem::NotInOrg`] warning, as the REST source does for a field
///   the org lacks. `SystemModstamp` falls back to `LastModifiedDate`
///   when only that column is there.
/// - `PricebookEntry`'s `Pricebook2.IsStandard` (a relationship field a
///   CSV cannot hold) is joined from `Pricebook2.csv`'s `IsStandard`
///   column, read once. Without that file or column it is `null`, with one
///   warning per read.
/// - Rows with `IsDeleted` true are served only when the request includes
///   deleted records.
///
/// # Order and memory
///
/// Records come in ascending Id order, as the
/// [`SalesforceSource`] contract asks, so a job resumes from its checkpoint
/// (`after`) however the file is sorted. The first read of an object makes
/// one streaming pass over its file (a zip entry is first copied, streamed,
/// to a temporary file, removed when the source is dropped): when the rows
/// are already in Id order, pages are read straight on, and one row in
/// 1024 is remembered to start a resumed read near its checkpoint;
/// otherwise a second pass indexes every row as (Id, byte offset, line),
/// sorted by Id, and pages are read by seeking. An index entry is 32
/// bytes: a million unsorted rows cost 32 MB, sorted ones 32 kB. Only the
/// page in hand holds records.
///
/// # Sync
///
/// A sync read ([`PageRequest::changed_since`]) keeps the rows whose
/// `SystemModstamp` (else `LastModifiedDate`) is at or after the given
/// instant, in `(SystemModstamp, Id)` order, from an index of those rows
/// alone (48 bytes each), built once per read. A file with neither column
/// cannot tell what changed: the read fails with an error saying so.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use salesforce_import::source::{ExportSource, PageRequest, SalesforceSource};
/// use salesforce_import::{SObject, TenantId};
///
/// // An unpacked Data Export: one CSV per object (here, only accounts).
/// let dir = std::env::temp_dir().join(format!("export-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// std::fs::write(dir.join("Account.csv"), "\u{feff}\"Id\",\"Name\",\"Description\",\"CreatedDate\"\n\
///     \"001000000000002AAA\",\"Globex, Inc.\",\"Two\nlines\",\"2024-01-31 10:00:00\"\n\
///     \"001000000000001AAA\",\"Acme\",\"\",\"2024-01-31T09:00:00.000Z\"\n")?;
///
/// let source = ExportSource::open(&dir)?; // a folder, a .zip or one .csv
/// let fields = vec!["Id".into(), "Name".into(), "Description".into(), "CreatedDate".into()];
/// let page = source.fetch_page(&TenantId::new("t"), &PageRequest::new(SObject::ACCOUNT, fields, 100)).await?;
/// let names: Vec<_> = page.records.iter().map(|r| r.text("Name").unwrap().unwrap()).collect();
/// assert_eq!(names, ["Acme", "Globex, Inc."]); // in Id order
/// assert_eq!(page.records[0].text("Description")?, None); // empty is null
/// assert_eq!(page.records[1].datetime("CreatedDate")?.unwrap().to_rfc3339(), "2024-01-31T10:00:00+00:00");
///
/// // An object without a file is not in this export.
/// let contacts = PageRequest::new(SObject::CONTACT, vec!["Id".into()], 100);
/// assert!(matches!(
///     source.fetch_page(&TenantId::new("t"), &contacts).await,
///     Err(salesforce_import::Error::ObjectNotAvailable { .. })
/// ));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
pub struct ExportSource {
    inner: Arc<Inner>,
}

/// Where the files are.
#[derive(Debug)]
enum Location {
    /// A folder (or the folder of one CSV file): file names in it.
    Folder(PathBuf),
    /// A zip: entry names in it.
    Zip(PathBuf),
}

/// One object's file: the object as the file name spells it, and the file
/// (a name in the folder, or an entry of the zip).
#[derive(Debug, Clone)]
struct FileRef {
    object: SObject,
    name: String,
}

struct Inner {
    location: Location,
    /// By object name in lower case.
    files: BTreeMap<String, FileRef>,
    /// Each object's file, scanned on first use (a lock per object, so
    /// that two reads of one object scan it once).
    prepared: Mutex<HashMap<String, Slot>>,
    /// `Pricebook2.IsStandard` per price book, read once.
    pricebooks: OnceLock<Standard>,
    scratch: Mutex<Scratch>,
}

/// An object's scanned file, once scanned; locked while it is scanned.
type Slot = Arc<Mutex<Option<Arc<Prepared>>>>;

/// The temporary folder zip entries are copied to, made on first use.
#[derive(Debug)]
struct Scratch {
    root: PathBuf,
    dir: Option<PathBuf>,
    files: u64,
}

/// An object's file, scanned.
#[derive(Debug)]
struct Prepared {
    file: CsvFile,
    scan: Scan,
    /// `SystemModstamp`, else `LastModifiedDate`.
    stamp_col: Option<usize>,
    /// The last sync read's rows, kept for its next pages.
    sync: Mutex<Option<SyncIndex>>,
}

/// The rows of one sync read, in `(SystemModstamp, Id)` order.
#[derive(Debug)]
struct SyncIndex {
    since: DateTime<Utc>,
    include_deleted: bool,
    rows: Arc<Vec<(DateTime<Utc>, Entry)>>,
}

/// Which price books are standard, from `Pricebook2.csv`.
#[derive(Debug)]
enum Standard {
    Known(HashMap<SfId, bool>),
    /// Why not: no file, no column, or the file could not be read.
    Unavailable(String),
}

/// The fields of a read and where each comes from.
#[derive(Debug)]
struct Plan {
    /// (record field, column, whether it holds a date or datetime).
    cells: Vec<(String, usize, bool)>,
    /// `Pricebook2.IsStandard`, joined through this `Pricebook2Id` column.
    join: Option<(String, usize)>,
    /// Fields left out, or not joined.
    warnings: Vec<FieldError>,
}

static SCRATCH_DIRS: AtomicU64 = AtomicU64::new(0);

fn io_error(what: String, e: impl Into<crate::error::BoxError>) -> Error {
    Error::source(what, e).permanent()
}

/// Whether a file name ends in `.csv` (any case); its stem if so.
fn csv_stem(name: &str) -> Option<&str> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cut = base.len().checked_sub(4)?;
    (base.is_char_boundary(cut) && base[cut..].eq_ignore_ascii_case(".csv") && cut > 0)
        .then(|| &base[..cut])
}

impl ExportSource {
    /// Opens a Data Export: a `.zip` as downloaded, the folder it unpacks
    /// to, or one CSV file named after its object (`Account.csv`, as Data
    /// Loader exports one object). Only the list of files is read here;
    /// each file is read when its object is first asked for.
    ///
    /// # Errors
    ///
    /// [`Error::Source`] when the path cannot be read, is a zip that cannot
    /// be opened, holds no CSV file, or holds two files for one object.
    pub fn open(path: impl AsRef<Path>) -> Result<ExportSource> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path)
            .map_err(|e| io_error(format!("opening {}", path.display()), e))?;
        let (location, names) = if meta.is_dir() {
            let names = std::fs::read_dir(path)
                .map_err(|e| io_error(format!("listing {}", path.display()), e))?
                .filter_map(|entry| entry.ok())
                .filter(|entry| entry.path().is_file())
                .filter_map(|entry| entry.file_name().into_string().ok())
                .collect::<Vec<_>>();
            (Location::Folder(path.to_owned()), names)
        } else if is_zip(path)? {
            let file =
                File::open(path).map_err(|e| io_error(format!("opening {}", path.display()), e))?;
            let archive = zip::ZipArchive::new(file)
                .map_err(|e| io_error(format!("reading the zip {}", path.display()), e))?;
            let names = archive.file_names().map(str::to_owned).collect();
            (Location::Zip(path.to_owned()), names)
        } else if let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| csv_stem(n).is_some())
        {
            let folder = path
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_owned);
            let folder = if folder.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                folder
            };
            (Location::Folder(folder), vec![name.to_owned()])
        } else {
            return Err(invalid(format!(
                "{} is neither a folder, a .zip nor a .csv file: open a Salesforce Data \
                 Export as downloaded (.zip), the folder it unpacks to, or one object's CSV",
                path.display()
            )));
        };

        let mut files: BTreeMap<String, FileRef> = BTreeMap::new();
        let mut names = names;
        names.sort();
        for name in names {
            let Some(stem) = csv_stem(&name) else {
                continue;
            };
            let key = stem.to_ascii_lowercase();
            if let Some(first) = files.get(&key) {
                return Err(invalid(format!(
                    "{} holds two files for {}: {} and {}; keep one",
                    path.display(),
                    first.object,
                    first.name,
                    name
                )));
            }
            let object = SObject::new(stem);
            files.insert(key, FileRef { object, name });
        }
        if files.is_empty() {
            return Err(invalid(format!(
                "no CSV files in {}: a Data Export holds one per object (Account.csv, \
                 Contact.csv, ...)",
                path.display()
            )));
        }
        Ok(ExportSource {
            inner: Arc::new(Inner {
                location,
                files,
                prepared: Mutex::new(HashMap::new()),
                pricebooks: OnceLock::new(),
                scratch: Mutex::new(Scratch {
                    root: std::env::temp_dir(),
                    dir: None,
                    files: 0,
                }),
            }),
        })
    }

    /// Where zip entries are copied to be indexed and read by seeking
    /// (default: [`std::env::temp_dir`]). A folder of its own is made in
    /// it on first use (owner-only on Unix: the files are customer data)
    /// and removed when the source is dropped.
    pub fn temp_dir(self, dir: impl Into<PathBuf>) -> ExportSource {
        lock(&self.inner.scratch).root = dir.into();
        self
    }

    /// The objects that have a file, in name order, spelled as the files
    /// are named (`Account` for `Account.csv`).
    pub fn objects(&self) -> Vec<SObject> {
        self.inner
            .files
            .values()
            .map(|f| f.object.clone())
            .collect()
    }
}

impl fmt::Debug for ExportSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportSource")
            .field("location", &self.inner.location)
            .field("files", &self.inner.files.len())
            .finish()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let scratch = self
            .scratch
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(dir) = scratch.dir.take() {
            // Best effort: a file still open elsewhere (Windows) stays.
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether the file starts like a zip (a local file header, or the end
/// record of an empty zip).
fn is_zip(path: &Path) -> Result<bool> {
    let mut magic = [0u8; 4];
    let mut file =
        File::open(path).map_err(|e| io_error(format!("opening {}", path.display()), e))?;
    let mut read = 0;
    while read < magic.len() {
        match file.read(&mut magic[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(format!("reading {}", path.display()), e)),
        }
    }
    Ok(read == 4 && (magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06"))
}

impl Inner {
    /// The object's file, scanned (once).
    fn prepared(&self, object: &SObject) -> Result<Arc<Prepared>> {
        let key = object.as_str().to_ascii_lowercase();
        let Some(file) = self.files.get(&key) else {
            return Err(Error::ObjectNotAvailable {
                object: object.clone(),
            });
        };
        let slot = lock(&self.prepared).entry(key).or_default().clone();
        let mut slot = lock(&slot);
        if let Some(prepared) = &*slot {
            return Ok(prepared.clone());
        }
        let (label, path) = match &self.location {
            Location::Folder(dir) => {
                let path = dir.join(&file.name);
                (path.display().to_string(), path)
            }
            Location::Zip(zip) => {
                let label = format!("{} in {}", file.name, zip.display());
                let path = self.extract(zip, &file.name, &label)?;
                (label, path)
            }
        };
        let csv = CsvFile::open(label, &path)?;
        let started = std::time::Instant::now();
        let scan = csv.scan()?;
        tracing::info!(
            object = %object,
            rows = scan.rows,
            sorted = matches!(scan.order, Order::Sorted { .. }),
            ms = started.elapsed().as_millis() as u64,
            "export file scanned"
        );
        let stamp_col = csv
            .column("SystemModstamp")
            .or_else(|| csv.column("LastModifiedDate"));
        let prepared = Arc::new(Prepared {
            file: csv,
            scan,
            stamp_col,
            sync: Mutex::new(None),
        });
        *slot = Some(prepared.clone());
        Ok(prepared)
    }

    /// Copies a zip entry, streamed, to a file in the scratch folder.
    fn extract(&self, zip: &Path, entry: &str, label: &str) -> Result<PathBuf> {
        let target = {
            let mut scratch = lock(&self.scratch);
            let dir = match &scratch.dir {
                Some(dir) => dir.clone(),
                None => {
                    let dir = make_scratch_dir(&scratch.root)?;
                    scratch.dir = Some(dir.clone());
                    dir
                }
            };
            scratch.files += 1;
            dir.join(format!("{}.csv", scratch.files))
        };
        let file =
            File::open(zip).map_err(|e| io_error(format!("opening {}", zip.display()), e))?;
        let mut archive = zip::ZipArchive::new(file)
            .map_err(|e| io_error(format!("reading the zip {}", zip.display()), e))?;
        let mut source = archive
            .by_name(entry)
            .map_err(|e| io_error(format!("reading {label}"), e))?;
        let out = File::create(&target)
            .map_err(|e| io_error(format!("writing {}", target.display()), e))?;
        let mut out = io::BufWriter::new(out);
        io::copy(&mut source, &mut out).map_err(|e| io_error(format!("unpacking {label}"), e))?;
        out.flush()
            .map_err(|e| io_error(format!("writing {}", target.display()), e))?;
        Ok(target)
    }

    /// Which price books are standard (read once).
    fn standard(&self) -> &Standard {
        self.pricebooks.get_or_init(|| {
            let pricebook2 = SObject::new("Pricebook2");
            let prepared = match self.prepared(&pricebook2) {
                Ok(p) => p,
                Err(Error::ObjectNotAvailable { .. }) => {
                    return Standard::Unavailable("the export has no Pricebook2.csv".into());
                }
                Err(e) => return Standard::Unavailable(format!("Pricebook2.csv: {e}")),
            };
            let file = &prepared.file;
            let Some(col) = file.column("IsStandard") else {
                return Standard::Unavailable(format!("{} has no IsStandard column", file.label));
            };
            match read_standard(file, col) {
                Ok(map) => Standard::Known(map),
                Err(e) => Standard::Unavailable(format!("{}: {e}", file.label)),
            }
        })
    }

    /// What a read selects, from the file's columns.
    fn plan(&self, prep: &Prepared, request: &PageRequest) -> Plan {
        let file = &prep.file;
        let mut plan = Plan {
            cells: vec![("Id".to_owned(), file.id_col, false)],
            join: None,
            warnings: Vec::new(),
        };
        let taken = |plan: &Plan, name: &str| {
            plan.cells.iter().any(|c| c.0.eq_ignore_ascii_case(name))
                || plan
                    .join
                    .as_ref()
                    .is_some_and(|_| name.eq_ignore_ascii_case(JOINED))
        };
        for field in &request.fields {
            if taken(&plan, field) {
                continue;
            }
            if let Some(col) = file.column(field) {
                let leaf = field.rsplit('.').next().unwrap_or(field);
                plan.cells
                    .push((field.clone(), col, values::date_like(leaf)));
                continue;
            }
            if field.eq_ignore_ascii_case("SystemModstamp")
                && let Some(col) = file.column("LastModifiedDate")
            {
                if !taken(&plan, "LastModifiedDate") {
                    plan.cells.push(("LastModifiedDate".to_owned(), col, true));
                }
                continue;
            }
            if field.eq_ignore_ascii_case(JOINED) && request.object == SObject::PRICEBOOK_ENTRY {
                match (file.column("Pricebook2Id"), self.standard()) {
                    (Some(col), Standard::Known(_)) => plan.join = Some((JOINED.to_owned(), col)),
                    (None, _) => plan.warnings.push(FieldError::new(
                        JOINED,
                        Problem::invalid(
                            format!(
                                "a Pricebook2Id column in {} to join IsStandard from \
                                 Pricebook2.csv (left empty)",
                                file.label
                            ),
                            "",
                        ),
                    )),
                    (Some(_), Standard::Unavailable(why)) => plan.warnings.push(FieldError::new(
                        JOINED,
                        Problem::invalid(
                            format!(
                                "Pricebook2.csv with an IsStandard column, to tell standard \
                                 prices ({why}; left empty)"
                            ),
                            "",
                        ),
                    )),
                }
                continue;
            }
            plan.warnings
                .push(FieldError::new(field.clone(), Problem::NotInOrg));
        }
        plan
    }

    /// One page of a read.
    fn page(&self, prep: &Prepared, request: &PageRequest) -> Result<Page> {
        let plan = self.plan(prep, request);
        let mut warnings = Vec::new();
        if request.cursor.is_none() {
            warnings.extend(prep.scan.warnings.iter().cloned());
            warnings.extend(plan.warnings.iter().cloned());
        }
        let standard = match plan.join.as_ref().map(|_| self.standard()) {
            Some(Standard::Known(map)) => Some(map),
            _ => None,
        };
        let rows = pages::Rows {
            file: &prep.file,
            plan: &plan,
            standard,
            object: &request.object,
        };
        let mut page = if request.changed_since.is_some() {
            pages::sync_page(prep, request, &rows, &mut warnings)?
        } else {
            match &prep.scan.order {
                Order::Sorted { marks } => {
                    pages::sorted_page(prep, marks, request, &rows, &mut warnings)?
                }
                Order::Indexed { index } => {
                    pages::indexed_page(index, request, &rows, &mut warnings)?
                }
            }
        };
        page.warnings = warnings;
        Ok(page)
    }
}

/// The relationship field joined from `Pricebook2.csv`.
const JOINED: &str = "Pricebook2.IsStandard";

/// Makes a folder of its own under `root`.
fn make_scratch_dir(root: &Path) -> Result<PathBuf> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    let mut last = None;
    for _ in 0..100 {
        let n = SCRATCH_DIRS.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = root.join(format!(
            "salesforce-import-export-{}-{n}-{nanos}",
            std::process::id()
        ));
        match builder.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => {
                return Err(io_error(
                    format!("making a temporary folder in {}", root.display()),
                    e,
                ));
            }
        }
    }
    Err(io_error(
        format!("making a temporary folder in {}", root.display()),
        last.unwrap_or_else(|| io::Error::other("no free name")),
    ))
}

/// `IsStandard` per price book, streamed from `Pricebook2.csv`.
fn read_standard(file: &CsvFile, col: usize) -> Result<HashMap<SfId, bool>> {
    let mut reader = file.reader()?;
    let mut row = ByteRecord::new();
    let mut map = HashMap::new();
    while file.next(&mut reader, &mut row)? {
        let Ok((id, _)) = file.check(&row) else {
            continue;
        };
        let standard = row.get(col).is_some_and(values::is_true);
        let id = SfId::parse(id_text(&id)).expect("checked ids are valid");
        map.entry(id).or_insert(standard);
    }
    Ok(map)
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::source("reading the Data Export", e).permanent())?
}

#[async_trait]
impl SalesforceSource for ExportSource {
    /// The rows of the object's file that are not deleted (one per Id);
    /// the first call for an object scans its file.
    async fn count_records(&self, _tenant: &TenantId, object: &SObject) -> Result<Option<u64>> {
        let inner = self.inner.clone();
        let object = object.clone();
        blocking(move || Ok(Some(inner.prepared(&object)?.scan.live))).await
    }

    async fn fetch_page(&self, _tenant: &TenantId, request: &PageRequest) -> Result<Page> {
        if request.page_size == 0 {
            return Err(Error::config("page_size must be at least 1"));
        }
        let inner = self.inner.clone();
        let request = request.clone();
        blocking(move || {
            let prepared = inner.prepared(&request.object)?;
            inner.page(&prepared, &request)
        })
        .await
    }
}
