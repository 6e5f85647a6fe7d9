//! [`FileSource`]: records loaded from sObject Tree JSON and REST
//! query-result JSON, served page by page like an org would.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use async_trait::async_trait;
use serde_json::Value;

use super::{Cursor, Page, PageRequest, SalesforceSource};
use crate::error::{Error, Result};
use crate::id::{SfId, TenantId};
use crate::object::SObject;
use crate::record::SfRecord;

mod ids;
#[cfg(test)]
mod tests;

use ids::{derive_id, key_prefix, reference_field, unique_id};

/// One record as loaded, before ids are given and `@reference`s resolved.
#[derive(Debug, Clone)]
struct Loaded {
    record: SfRecord,
    /// Set when it came from an sObject Tree file.
    tree: Option<Tree>,
    /// Where it came from, for warnings: `Account.json record 3 (AccountRef3)`.
    origin: String,
}

/// How a tree record was loaded.
#[derive(Debug, Clone)]
struct Tree {
    /// The file it came from, for warnings.
    file: String,
    /// Whether its `@` values in reference fields are references to resolve
    /// (`false` when the plan says `"resolveRefs": false` for its file).
    resolve_refs: bool,
    /// The position in [`FileSource::loaded`] of the record it was nested
    /// in, whose id goes into `<ParentObject>Id`.
    parent: Option<usize>,
}

/// An in-memory [`SalesforceSource`] loaded from JSON text: sObject Tree
/// files (`sf data export tree`) and REST query results.
///
/// Records are served in ascending Id order, a page at a time, and each is
/// projected to the fields the request selects, as a real org would.
///
/// # Ids and references in sObject Tree files
///
/// A tree record keeps its own `Id` when it has one. Otherwise its id is
/// derived from its object and `attributes.referenceId` (the key prefix,
/// then 12 base-62 characters of a 128-bit FNV-1a hash, then the checksum
/// suffix): the same record gets the same id however the file is
/// edited or reordered, so a re-import into the same tenant matches it to
/// what the last import wrote. Two records whose ids would be the same get
/// distinct ones (a rehash, in `(object, referenceId)` order) and a message
/// in [`FileSource::warnings`]. A record with neither `Id` nor
/// `referenceId` gets a synthetic id from its key prefix and its position
/// (`001000000000001AAA`), which changes when records are added before it:
/// one warning per file counts them.
///
/// Records are served in id order, so tree records come in the order of
/// their ids, not of the file.
///
/// In a reference field (a name ending in `Id`: `AccountId`, `ParentId`,
/// `Pricebook2Id`), a string value `@SomeRef` naming the `referenceId` of
/// any tree record in this source — added before or after, forward
/// references included — becomes that record's id. An `@SomeRef` naming no
/// record becomes `null` and adds a message to [`FileSource::warnings`]; the
/// rest of the record is kept. Other fields keep `@` text as it is
/// (`"Name": "@Home Depot"`), and so does every field of a file whose plan
/// step says `"resolveRefs": false`. Nested child records (`"Contacts":
/// {"records": [...]}`) become records of their own object, with the
/// parent's id in `<ParentObject>Id`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use salesforce_import::source::{PageRequest, SalesforceSource};
/// use salesforce_import::{FileSource, SObject, TenantId};
///
/// let source = FileSource::new().add_tree_json(r#"{"records": [
///     {"attributes": {"type": "Account", "referenceId": "Child"}, "Name": "Child", "ParentId": "@Parent"},
///     {"attributes": {"type": "Account", "referenceId": "Parent"}, "Name": "Parent"}
/// ]}"#)?;
/// let req = PageRequest::new(SObject::ACCOUNT, vec!["Id".into(), "Name".into(), "ParentId".into()], 10);
/// let page = source.fetch_page(&TenantId::new("t"), &req).await?;
/// assert_eq!(page.records.len(), 2);
/// let named = |n: &str| page.records.iter().find(|r| r.text("Name").unwrap().as_deref() == Some(n)).unwrap();
/// assert_eq!(named("Child").text("ParentId")?, Some(named("Parent").id()?.to_string()));
/// # Ok(()) }
/// ```
#[derive(Debug, Default, Clone)]
pub struct FileSource {
    loaded: Vec<Loaded>,
    /// How many texts were added, to name them in messages.
    files: usize,
    /// The resolved records per object, sorted by 18-character id.
    objects: BTreeMap<SObject, Vec<(String, SfRecord)>>,
    warnings: Vec<String>,
}

/// The sort key of a record: its 18-character id, or its raw `Id` text when
/// that is not a valid id (such records are still served, so the engine can
/// report them).
fn sort_key(record: &SfRecord) -> String {
    match record.id() {
        Ok(id) => id.as_str().to_owned(),
        Err(_) => match record.value("Id") {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => String::new(),
        },
    }
}

/// Whether a JSON document looks like an sObject Tree file rather than a
/// query result.
fn looks_like_tree(doc: &Value) -> bool {
    let Value::Object(map) = doc else {
        return false;
    };
    if map.contains_key("totalSize") || map.contains_key("done") {
        return false;
    }
    let Some(Value::Array(records)) = map.get("records") else {
        return false;
    };
    records.iter().any(|r| {
        r.get("attributes")
            .and_then(|a| a.get("referenceId"))
            .is_some()
    }) || !records.iter().any(|r| r.get("Id").is_some())
}

/// The text without a leading UTF-8 byte-order mark.
fn strip_bom(json: &str) -> &str {
    json.strip_prefix('\u{feff}').unwrap_or(json)
}

/// A permanent [`Error::Source`] whose message says it all (the cause
/// repeats it).
fn invalid(message: String) -> Error {
    let cause = std::io::Error::new(std::io::ErrorKind::InvalidData, message.clone());
    Error::source(message, cause).permanent()
}

/// At most `max` characters of `s`, with `…` when cut.
fn cut(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

/// Parses a JSON document (after any BOM).
fn parse_doc(label: &str, json: &str) -> Result<Value> {
    serde_json::from_str(strip_bom(json))
        .map_err(|e| Error::source(format!("reading JSON file {label}"), e).permanent())
}

/// An error when the document is a saved error body rather than data: a
/// Salesforce API error (`[{"message": .., "errorCode": ..}]`), an OAuth
/// error (`{"error": .., "error_description": ..}`) or a failed `sf ...
/// --json` command (`{"status": 1, "message": ..}`).
fn reject_error_body(label: &str, doc: &Value) -> Result<()> {
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let join = |code: String, message: String| match (code.is_empty(), message.is_empty()) {
        (false, false) => format!("{code}: {message}"),
        (true, _) => message,
        (false, true) => code,
    };
    let detail = match doc {
        Value::Array(items)
            if !items.is_empty()
                && items.iter().all(|i| {
                    i.get("errorCode").is_some()
                        && i.get("message").is_some()
                        && i.get("attributes").is_none()
                }) =>
        {
            let all: Vec<String> = items
                .iter()
                .map(|i| join(text(i.get("errorCode")), text(i.get("message"))))
                .collect();
            Some(("a saved Salesforce API error", all.join("; ")))
        }
        Value::Object(map)
            if map.get("error").is_some_and(Value::is_string)
                && !map.contains_key("records")
                && !map.contains_key("result") =>
        {
            let detail = join(text(map.get("error")), text(map.get("error_description")));
            Some(("a saved OAuth error", detail))
        }
        Value::Object(map)
            if map
                .get("status")
                .and_then(Value::as_i64)
                .is_some_and(|s| s != 0)
                && !map.contains_key("records") =>
        {
            let code = text(map.get("name").or_else(|| map.get("code")));
            Some((
                "the error output of a failed sf command",
                join(code, text(map.get("message"))),
            ))
        }
        _ => None,
    };
    match detail {
        Some((what, detail)) => Err(invalid(format!(
            "{label} is {what}, not records: {}",
            cut(&detail, 200)
        ))),
        None => Ok(()),
    }
}

/// Whether a file name is one `sf data export tree --plan` gives a plan
/// (`Account-Contact-plan.json`, `plan.json`).
fn plan_name(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with("plan.json")
}

/// Whether a document is an sObject Tree plan: a non-empty array of steps,
/// each with an `sobject` name and a `files` list.
fn looks_like_plan(doc: &Value) -> bool {
    let Value::Array(steps) = doc else {
        return false;
    };
    !steps.is_empty()
        && steps.iter().all(|step| {
            step.get("sobject").is_some_and(Value::is_string)
                && step
                    .get("files")
                    .and_then(Value::as_array)
                    .is_some_and(|files| files.iter().all(Value::is_string))
        })
}

impl FileSource {
    /// An empty source.
    pub fn new() -> FileSource {
        FileSource::default()
    }

    /// The bundled sample org: a few hundred records across every standard
    /// object, with the awkward cases real orgs have. See
    /// `src/source/sample/MANIFEST.md` for what importing it gives.
    pub fn sample_org() -> FileSource {
        super::sample::FILES
            .iter()
            .try_fold(FileSource::new(), |source, (name, json)| {
                source.add_json_named(name, json, false)
            })
            .expect("the bundled sample org is valid query-result JSON (a unit test loads it)")
    }

    /// Adds an sObject Tree file (`{"records": [{"attributes": {"type":
    /// "Account", "referenceId": "Ref1"}, ...}]}`). A leading UTF-8 BOM is
    /// ignored.
    ///
    /// # Errors
    ///
    /// [`Error::Source`] when the text is not JSON of that shape, or is a
    /// saved API or OAuth error body.
    pub fn add_tree_json(mut self, json: &str) -> Result<FileSource> {
        self.files += 1;
        let label = format!("sObject Tree file #{}", self.files);
        self.add_tree_named(&label, json, true)
    }

    /// Adds a REST query result (`{"totalSize": .., "done": .., "records":
    /// [..]}`), the output of `sf data query --json` (`{"status": 0,
    /// "result": {"records": [..], ..}}`) or a bare JSON array of records.
    /// Records keep their Ids, valid or not. A leading UTF-8 BOM is ignored.
    ///
    /// # Errors
    ///
    /// [`Error::Source`] when the text is not JSON of that shape, or is a
    /// saved API or OAuth error body.
    pub fn add_query_json(mut self, json: &str) -> Result<FileSource> {
        self.files += 1;
        let label = format!("query-result file #{}", self.files);
        self.add_query_named(&label, json)
    }

    /// Loads a directory of JSON files (a leading UTF-8 BOM is ignored).
    ///
    /// With an sObject Tree plan (an array of `{"sobject": .., "files":
    /// [..]}` steps, as `sf data export tree --plan` writes to
    /// `*-plan.json`), the files the plans name are loaded in order as tree
    /// files (several plans: in file-name order). Otherwise every `*.json`
    /// file is loaded in file-name order, as an sObject Tree file or a query
    /// result (REST, or `sf data query --json`) by its shape.
    ///
    /// # Errors
    ///
    /// [`Error::Source`] when a file cannot be read or parsed; when a file
    /// named like a plan (`*plan.json`) is not one; when a file is a saved
    /// API or OAuth error body; when the directory holds no JSON file (CSV
    /// files, as a Data Export gives, are not supported yet).
    pub fn from_dir(path: impl AsRef<Path>) -> Result<FileSource> {
        let dir = path.as_ref();
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .map_err(|e| Error::source(format!("reading {}", p.display()), e).permanent())
        };
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| Error::source(format!("listing {}", dir.display()), e).permanent())?
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.path().is_file())
            .filter_map(|entry| entry.file_name().into_string().ok())
            .collect();
        names.sort();
        let has_ext = |name: &str, ext: &str| {
            name.len() > ext.len()
                && name.is_char_boundary(name.len() - ext.len())
                && name[name.len() - ext.len()..].eq_ignore_ascii_case(ext)
        };
        let csv = names.iter().filter(|n| has_ext(n, ".csv")).count();
        let no_csv_support = || {
            invalid(format!(
                "found {csv} CSV files in {}: CSV exports are not supported by FileSource \
                 yet (JSON sObject Tree or query results only)",
                dir.display()
            ))
        };
        let json: Vec<&String> = names.iter().filter(|n| has_ext(n, ".json")).collect();
        if json.is_empty() {
            if csv > 0 {
                return Err(no_csv_support());
            }
            return Err(invalid(format!(
                "no JSON files in {}: FileSource loads sObject Tree files, their plans \
                 and query results (*.json)",
                dir.display()
            )));
        }

        // Every file parsed once, plans told from data by their content.
        let mut plans = Vec::new();
        let mut data = Vec::new();
        for name in json {
            let p = dir.join(name);
            let label = p.display().to_string();
            let text = read(&p)?;
            let doc = parse_doc(&label, &text)?;
            reject_error_body(&label, &doc)?;
            if looks_like_plan(&doc) {
                plans.push((label, doc));
            } else if plan_name(name) {
                return Err(invalid(format!(
                    "{label} is named like an sObject Tree plan but is not one (a JSON \
                     array of steps with \"sobject\" and \"files\"); rename it if it holds data"
                )));
            } else {
                data.push((label, text));
            }
        }

        let mut source = FileSource::new();
        if plans.is_empty() {
            for (label, text) in &data {
                source = source.add_json_named(label, text, true)?;
            }
        } else {
            #[derive(serde::Deserialize)]
            struct Step {
                files: Vec<String>,
                /// `false`: the files' `@` values are text, not references.
                #[serde(rename = "resolveRefs", default)]
                resolve_refs: Option<bool>,
            }
            for (label, doc) in plans {
                let steps: Vec<Step> = serde_json::from_value(doc).map_err(|e| {
                    Error::source(format!("reading sObject Tree plan {label}"), e).permanent()
                })?;
                for step in &steps {
                    let resolve_refs = step.resolve_refs != Some(false);
                    for file in &step.files {
                        let p = dir.join(file);
                        source = source.add_tree_named(
                            &p.display().to_string(),
                            &read(&p)?,
                            resolve_refs,
                        )?;
                    }
                }
            }
        }
        if csv > 0 && source.loaded.is_empty() {
            return Err(no_csv_support());
        }
        Ok(source)
    }

    /// How many records of `object` this source holds.
    pub fn count(&self, object: &SObject) -> usize {
        self.objects.get(object).map_or(0, Vec::len)
    }

    /// The records of `object`, in Id order, with every field (unprojected).
    pub fn records(&self, object: &SObject) -> impl Iterator<Item = &SfRecord> {
        self.objects
            .get(object)
            .into_iter()
            .flatten()
            .map(|(_, r)| r)
    }

    /// The objects that have records, in name order.
    pub fn objects(&self) -> impl Iterator<Item = &SObject> {
        self.objects.keys()
    }

    /// What was repaired while loading: `@references` that name no record
    /// (left `null`), duplicate `referenceId`s, derived ids that collided
    /// (rehashed), tree records with neither `Id` nor `referenceId` (ids
    /// from their position, one message per file), and records of one
    /// object with the same id (its 15- and 18-character spellings, or one
    /// spelling twice), naming both spellings and where each came from.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn add_json_named(self, label: &str, json: &str, detect: bool) -> Result<FileSource> {
        if detect {
            let doc = parse_doc(label, json)?;
            if looks_like_tree(&doc) {
                return self.add_tree_named(label, json, true);
            }
        }
        self.add_query_named(label, json)
    }

    fn add_query_named(mut self, label: &str, json: &str) -> Result<FileSource> {
        #[derive(serde::Deserialize)]
        struct QueryResult {
            records: Vec<SfRecord>,
        }
        /// `sf data query --json`: the query result under `result`.
        #[derive(serde::Deserialize)]
        struct CliOutput {
            result: QueryResult,
        }
        let json = strip_bom(json);
        // Looked at as a value first, for error bodies and the CLI's
        // wrapper; records are then read raw (no f64 round trip).
        let doc = serde_json::from_str::<Value>(json).ok();
        if let Some(doc) = &doc {
            reject_error_body(label, doc)?;
        }
        let cli = doc.as_ref().is_some_and(|d| {
            d.get("result").is_some_and(Value::is_object) && d.get("records").is_none()
        });
        // Not an untagged enum: serde buffers those, which raw values refuse.
        let parsed = if json.trim_start().starts_with('[') {
            serde_json::from_str::<Vec<SfRecord>>(json)
        } else if cli {
            serde_json::from_str::<CliOutput>(json).map(|q| q.result.records)
        } else {
            serde_json::from_str::<QueryResult>(json).map(|q| q.records)
        };
        let records = parsed.map_err(|e| {
            Error::source(format!("reading query-result JSON {label}"), e).permanent()
        })?;
        for (i, record) in records.into_iter().enumerate() {
            self.loaded.push(Loaded {
                record,
                tree: None,
                origin: format!("{label} record {}", i + 1),
            });
        }
        self.rebuild();
        Ok(self)
    }

    fn add_tree_named(mut self, label: &str, json: &str, resolve_refs: bool) -> Result<FileSource> {
        let json = strip_bom(json);
        if let Ok(doc) = serde_json::from_str::<Value>(json) {
            reject_error_body(label, &doc)?;
        }
        // Records stay raw JSON (no f64 round trip for numbers).
        let file: Nested = serde_json::from_str(json).map_err(|e| {
            Error::source(format!("reading sObject Tree JSON {label}"), e).permanent()
        })?;
        let mut index = 0;
        for rec in file.records {
            self.add_tree_record(label, resolve_refs, &mut index, rec, None)?;
        }
        self.rebuild();
        Ok(self)
    }

    /// Adds one tree record and, recursively, its nested children.
    /// `parent` is the position of the record it is nested in. Ids are
    /// given by [`FileSource::rebuild`].
    fn add_tree_record(
        &mut self,
        label: &str,
        resolve_refs: bool,
        index: &mut usize,
        mut rec: SfRecord,
        parent: Option<usize>,
    ) -> Result<()> {
        *index += 1;
        let Some(object) = rec.object().map(|o| o.as_str().to_owned()) else {
            return Err(Error::source(
                format!("reading sObject Tree JSON {label}"),
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("record {index} has no attributes.type"),
                ),
            )
            .permanent());
        };
        let reference = rec.reference_id();

        // Nested children: fields holding a {"records": [...]} block.
        let mut children = Vec::new();
        let names: Vec<String> = rec.field_names().map(str::to_owned).collect();
        for key in names {
            let Some(raw) = rec.raw_field(&key) else {
                continue;
            };
            if !raw.trim_start().starts_with('{') {
                continue;
            }
            if let Ok(block) = serde_json::from_str::<Nested>(raw) {
                children.extend(block.records);
                rec.remove(&key);
            }
        }
        let origin = match &reference {
            Some(r) => format!("{label} record {index} ({object} {r})"),
            None => format!("{label} record {index} ({object})"),
        };
        let at = self.loaded.len();
        self.loaded.push(Loaded {
            record: rec,
            tree: Some(Tree {
                file: label.to_owned(),
                resolve_refs,
                parent,
            }),
            origin,
        });
        for child in children {
            self.add_tree_record(label, resolve_refs, index, child, Some(at))?;
        }
        Ok(())
    }

    /// The id of every loaded record (its `Id` text, `None` when it has
    /// none): tree records without `Id` get one here, derived from their
    /// `referenceId` or, lacking that, synthetic. Adds the warnings of
    /// collisions and of synthetic ids.
    fn assign_ids(&self, warnings: &mut Vec<String>) -> Vec<Option<String>> {
        let own = |l: &Loaded| match l.record.value("Id") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s),
            Some(Value::Null) | None => None,
            Some(Value::String(_)) => None,
            Some(other) => Some(other.to_string()),
        };
        let mut ids: Vec<Option<String>> = self.loaded.iter().map(own).collect();
        // Ids given in the files are taken first.
        let mut taken: HashSet<SfId> = ids
            .iter()
            .flatten()
            .filter_map(|id| SfId::parse(id.trim()).ok())
            .collect();
        let object_of = |l: &Loaded| {
            l.record
                .object()
                .map_or_else(|| "(unknown)".to_owned(), |o| o.as_str().to_owned())
        };

        // Derived from referenceIds, in (object, referenceId, position)
        // order: which of two colliding records is rehashed does not depend
        // on the order of the files.
        let mut derived: Vec<(String, String, usize)> = self
            .loaded
            .iter()
            .enumerate()
            .filter(|(i, l)| l.tree.is_some() && ids[*i].is_none())
            .filter_map(|(i, l)| Some((object_of(l), l.record.reference_id()?, i)))
            .collect();
        derived.sort();
        for (object, reference, i) in derived {
            let prefix = key_prefix(&object);
            let (id, attempt) = unique_id(&mut taken, prefix, &object, &reference);
            if attempt > 0 {
                warnings.push(format!(
                    "{}: the id derived from referenceId {reference} ({}) is taken by another \
                     record; using {id} (rehash #{attempt})",
                    self.loaded[i].origin,
                    derive_id(prefix, &object, &reference, 0),
                ));
            }
            ids[i] = Some(id.as_str().to_owned());
        }

        // Neither Id nor referenceId: synthetic ids, by position.
        let mut counters: HashMap<&'static str, u64> = HashMap::new();
        let mut per_file: Vec<(&str, usize)> = Vec::new();
        for (i, l) in self.loaded.iter().enumerate() {
            let Some(tree) = &l.tree else { continue };
            if ids[i].is_some() {
                continue;
            }
            let prefix = key_prefix(&object_of(l));
            let counter = counters.entry(prefix).or_insert(0);
            let id = loop {
                *counter += 1;
                let id = SfId::parse(&format!("{prefix}{:012}", *counter))
                    .expect("a key prefix and 12 digits are an id");
                if taken.insert(id.clone()) {
                    break id;
                }
            };
            ids[i] = Some(id.as_str().to_owned());
            match per_file.iter_mut().find(|(f, _)| *f == tree.file) {
                Some((_, n)) => *n += 1,
                None => per_file.push((&tree.file, 1)),
            }
        }
        for (file, n) in per_file {
            warnings.push(format!(
                "{file}: {n} record(s) have neither Id nor referenceId; their ids come \
                 from their position in the file, so a re-import after the file changes \
                 may not match them to the records imported before"
            ));
        }
        ids
    }

    /// Gives tree records their ids, resolves `@references` over
    /// everything loaded and re-sorts.
    fn rebuild(&mut self) {
        let mut warnings = Vec::new();
        let ids = self.assign_ids(&mut warnings);
        let mut refs: HashMap<String, &str> = HashMap::new();
        for (i, l) in self.loaded.iter().enumerate() {
            if l.tree.is_none() {
                continue;
            }
            if let (Some(r), Some(id)) = (l.record.reference_id(), &ids[i]) {
                match refs.entry(r) {
                    Entry::Occupied(e) => warnings.push(format!(
                        "{}: referenceId {} is used twice; references go to the first",
                        l.origin,
                        e.key()
                    )),
                    Entry::Vacant(e) => {
                        e.insert(id);
                    }
                }
            }
        }
        let mut objects: BTreeMap<SObject, Vec<(String, SfRecord)>> = BTreeMap::new();
        let mut seen: HashMap<(SObject, SfId), (usize, String)> = HashMap::new();
        for (i, l) in self.loaded.iter().enumerate() {
            let mut record = l.record.clone();
            if let Some(tree) = &l.tree {
                if let Some(id) = &ids[i]
                    && record.value("Id").is_none_or(|v| v.as_str() != Some(id))
                {
                    record.set("Id", id.as_str());
                }
                if let Some(p) = tree.parent {
                    let parent_object = self.loaded[p].record.object();
                    if let (Some(o), Some(id)) = (parent_object, &ids[p]) {
                        record.set(&format!("{o}Id"), id.as_str());
                    }
                }
                if tree.resolve_refs {
                    let fields: Vec<String> = record
                        .field_names()
                        .filter(|f| reference_field(f))
                        .map(str::to_owned)
                        .collect();
                    for field in fields {
                        let Some(Value::String(s)) = record.value(&field) else {
                            continue;
                        };
                        let Some(name) = s.strip_prefix('@') else {
                            continue;
                        };
                        match refs.get(name) {
                            Some(id) => record.set(&field, *id),
                            None => {
                                record.set(&field, Value::Null);
                                warnings.push(format!(
                                    "{}: field {field}: @{name} names no record; left empty",
                                    l.origin
                                ));
                            }
                        }
                    }
                }
            }
            let object = record.object().unwrap_or_else(|| SObject::new("(unknown)"));
            // One id given twice (15 and 18 characters, or the same spelling
            // twice): both are served, and the import keeps one record.
            if let Ok(id) = record.id() {
                let spelling = match record.value("Id") {
                    Some(Value::String(s)) => s.trim().to_owned(),
                    _ => id.as_str().to_owned(),
                };
                match seen.entry((object.clone(), id)) {
                    Entry::Occupied(e) => {
                        let (first, first_spelling) = e.get();
                        warnings.push(format!(
                            "{}: Id {spelling} is the same {object} record as Id {first_spelling} \
                             in {}; the import keeps only one of them",
                            l.origin, self.loaded[*first].origin
                        ));
                    }
                    Entry::Vacant(e) => {
                        e.insert((i, spelling));
                    }
                }
            }
            objects
                .entry(object)
                .or_default()
                .push((sort_key(&record), record));
        }
        for records in objects.values_mut() {
            records.sort_by(|a, b| a.0.cmp(&b.0));
        }
        self.objects = objects;
        self.warnings = warnings;
    }
}

/// An sObject Tree file, or a nested block of child records in one.
#[derive(serde::Deserialize)]
struct Nested {
    records: Vec<SfRecord>,
}

/// Keeps only the requested fields (case-insensitive; a dotted path keeps
/// its top-level relationship object) and `attributes`.
fn project(record: &SfRecord, fields: &[String]) -> SfRecord {
    let mut out = record.clone();
    let wanted: Vec<&str> = fields
        .iter()
        .map(|f| f.split('.').next().unwrap_or(f))
        .collect();
    let drop: Vec<String> = record
        .field_names()
        .filter(|name| !wanted.iter().any(|w| w.eq_ignore_ascii_case(name)))
        .map(str::to_owned)
        .collect();
    for name in drop {
        out.remove(&name);
    }
    out
}

#[async_trait]
impl SalesforceSource for FileSource {
    async fn count_records(&self, _tenant: &TenantId, object: &SObject) -> Result<Option<u64>> {
        let live = self
            .records(object)
            .filter(|r| r.boolean("IsDeleted").ok().flatten() != Some(true))
            .count();
        Ok(Some(live as u64))
    }

    async fn fetch_page(&self, _tenant: &TenantId, request: &PageRequest) -> Result<Page> {
        if request.page_size == 0 {
            return Err(Error::config("page_size must be at least 1"));
        }
        let all = self
            .objects
            .get(&request.object)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if request.changed_since.is_some() {
            return Ok(sync_page(all, request));
        }
        let start = match &request.after {
            Some(after) => all.partition_point(|(k, _)| k.as_str() <= after.as_str()),
            None => 0,
        };
        let matching = &all[start..];
        // The cursor is the position in the object's sorted records of the
        // next record to serve (robust to duplicate or invalid Ids).
        let from = match &request.cursor {
            Some(cursor) => cursor
                .as_str()
                .parse::<usize>()
                .map_err(|e| Error::source(format!("reading cursor {cursor:?}"), e).permanent())?
                .clamp(start, all.len()),
            None => start,
        };
        let rest = &all[from..];
        let page = &rest[..rest.len().min(request.page_size)];
        let next = (rest.len() > page.len()).then(|| Cursor::new((from + page.len()).to_string()));
        let records = page
            .iter()
            .filter(|(_, r)| request.include_deleted || !r.is_deleted())
            .map(|(_, r)| project(r, &request.fields))
            .collect();
        Ok(Page::new(records, next, Some(matching.len() as u64)))
    }
}

/// A page of a sync read: the records [`PageRequest::wants`], in
/// `(SystemModstamp, Id)` order; the cursor is a position in that order.
fn sync_page(all: &[(String, SfRecord)], request: &PageRequest) -> Page {
    let mut matching: Vec<(Option<chrono::DateTime<chrono::Utc>>, SfId, &SfRecord)> = all
        .iter()
        .filter(|(_, r)| request.include_deleted || !r.is_deleted())
        .filter_map(|(_, r)| {
            let id = r.id().ok()?;
            let stamp = r.modstamp();
            request.wants(stamp, &id).then_some((stamp, id, r))
        })
        .collect();
    matching.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let from = request
        .cursor
        .as_ref()
        .and_then(|c| c.as_str().parse::<usize>().ok())
        .unwrap_or(0)
        .min(matching.len());
    let to = (from + request.page_size).min(matching.len());
    let next = (to < matching.len()).then(|| Cursor::new(to.to_string()));
    let records = matching[from..to]
        .iter()
        .map(|(_, _, r)| project(r, &request.fields))
        .collect();
    Page::new(records, next, Some(matching.len() as u64))
}
