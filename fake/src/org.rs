//! [`FakeOrg`]: the data a [`FakeSalesforce`](super::FakeSalesforce)
//! serves: its records (loaded, generated or materialized) and its objects.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, TimeDelta, Utc};

use super::generated::Generated;
use super::render::Column;
use super::schema::{self, FieldDef, ObjectSchema};
use super::store::{self, Records};
use crate::ids::key_prefix;
use salesforce_import::{FileSource, Result, SObject, SfRecord};

/// The records and metadata of a fake org: loaded from sObject Tree or
/// query-result JSON, the bundled sample org, or generated on the fly.
///
/// An org loaded from files (or [materialized](FakeOrg::generated_materialized))
/// can change while it is served: [`update`](FakeOrg::update),
/// [`insert`](FakeOrg::insert), [`delete`](FakeOrg::delete) (to the recycle
/// bin, with Salesforce's cascade) and [`undelete`](FakeOrg::undelete)
/// stamp records with the org's logical clock ([`now`](FakeOrg::now),
/// [`advance`](FakeOrg::advance)). Every record served carries
/// `CreatedDate`, `LastModifiedDate`, `SystemModstamp` and `IsDeleted`;
/// records loaded without them get `2025-01-01T00:00:00.000+0000` and
/// `false`.
///
/// Clones share the records and the clock: a change made through one is
/// seen through every other (and by the [`FakeSalesforce`](crate::FakeSalesforce)
/// serving it). [`without_object`](FakeOrg::without_object) and
/// [`hide_field`](FakeOrg::hide_field) change only the org they return.
///
/// Every standard object the crate maps exists in the org (with the
/// fields a real org describes for it), plus any other object found in the
/// data. [`without_object`](FakeOrg::without_object) and
/// [`hide_field`](FakeOrg::hide_field) make an org that lacks some.
///
/// ```
/// use salesforce_import::SObject;
/// use salesforce_import_fake::FakeOrg;
///
/// let org = FakeOrg::generated(7, 1_000_000).without_object(SObject::QUOTE);
/// assert_eq!(org.count(&SObject::ACCOUNT), 1_000_000); // nothing materialised
/// assert_eq!(org.count(&SObject::QUOTE), 0);
/// assert!(FakeOrg::sample().count(&SObject::CONTACT) > 0);
/// ```
#[derive(Debug, Clone)]
pub struct FakeOrg {
    pub(crate) data: Data,
    /// By lower-case object name.
    pub(crate) schemas: BTreeMap<String, ObjectSchema>,
    /// (object, field), lower case.
    hidden: BTreeSet<(String, String)>,
    /// The logical clock mutations stamp records with.
    pub(crate) clock: Arc<Mutex<DateTime<Utc>>>,
}

#[derive(Debug, Clone)]
pub(crate) enum Data {
    /// Records held in memory, in id order per object: they can change.
    Files(Arc<RwLock<Records>>),
    /// Records computed from (seed, object, index): they cannot.
    Generated(Generated),
}

impl FakeOrg {
    /// The bundled sample org (see [`FileSource::sample_org`]).
    pub fn sample() -> FakeOrg {
        FakeOrg::from_source(FileSource::sample_org())
    }

    /// An org serving the records of a [`FileSource`].
    pub fn from_source(source: FileSource) -> FakeOrg {
        let mut schemas = standard_schemas();
        let records = Records::from_source(&source);
        for object in source.objects() {
            let name = object.as_str();
            let schema = schemas
                .entry(name.to_ascii_lowercase())
                .or_insert_with(|| schema::schema_for(name, key_prefix(name)));
            for (_, record) in records.sorted(object) {
                for field in record.field_names() {
                    if schema.field(field).is_some() {
                        continue;
                    }
                    let value = record.value(field).unwrap_or(serde_json::Value::Null);
                    if let Some(kind) = schema::infer_type(&value) {
                        schema.add_field(FieldDef {
                            name: field.to_owned(),
                            kind,
                            reference_to: None,
                        });
                    }
                }
            }
        }
        FakeOrg::from_records(records, schemas)
    }

    fn from_records(records: Records, schemas: BTreeMap<String, ObjectSchema>) -> FakeOrg {
        let now = records
            .latest_stamp()
            .map_or_else(store::empty_org_time, |at| at + TimeDelta::seconds(1));
        FakeOrg {
            data: Data::Files(Arc::new(RwLock::new(records))),
            schemas,
            hidden: BTreeSet::new(),
            clock: Arc::new(Mutex::new(now)),
        }
    }

    /// An org loaded from a directory of sObject Tree files (see
    /// [`FileSource::from_dir`]).
    ///
    /// # Errors
    ///
    /// [`Error::Source`](salesforce_import::Error::Source) when a file cannot be read
    /// or parsed.
    pub fn from_dir(path: impl AsRef<Path>) -> Result<FakeOrg> {
        FileSource::from_dir(path).map(FakeOrg::from_source)
    }

    /// An org generated from `seed`, with `size` accounts and contacts,
    /// `size / 2` opportunities, `size / 4` orders and quotes (two lines
    /// each), one product with a standard price per hundred accounts (at
    /// least one), and the standard price book.
    ///
    /// Records are computed from (seed, object, index) when a page is
    /// served: memory stays flat however large `size` is, and the same
    /// seed always gives the same org. Ids are valid 18-character ids in
    /// increasing order; lookups (`Contact.AccountId`, `Order.AccountId`,
    /// `OrderItem.PricebookEntryId`, ...) point at records that exist.
    ///
    /// A generated org cannot change: its mutations are errors. Its clock
    /// starts after every `SystemModstamp` it has.
    pub fn generated(seed: u64, size: u64) -> FakeOrg {
        let generated = Generated::new(seed, size);
        let now = generated.latest_stamp();
        FakeOrg {
            data: Data::Generated(generated),
            schemas: standard_schemas(),
            hidden: BTreeSet::new(),
            clock: Arc::new(Mutex::new(now)),
        }
    }

    /// The records of [`FakeOrg::generated`]`(seed, size)`, held in memory
    /// so that they can change: for tests of a few thousand records
    /// (`size` 1 000 gives about 3 500).
    ///
    /// ```
    /// use salesforce_import::SObject;
    /// use salesforce_import_fake::FakeOrg;
    ///
    /// let org = FakeOrg::generated_materialized(7, 100);
    /// let first = &org.records(&SObject::CONTACT, 1)[0];
    /// assert_eq!(first.text("Email")?, FakeOrg::generated(7, 100).records(&SObject::CONTACT, 1)[0].text("Email")?);
    /// org.update(&SObject::CONTACT, &first.id()?, serde_json::Map::new())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn generated_materialized(seed: u64, size: u64) -> FakeOrg {
        let source = FakeOrg::generated(seed, size);
        let Data::Generated(generated) = &source.data else {
            unreachable!("FakeOrg::generated is generated")
        };
        let by_object: HashMap<SObject, Vec<(String, SfRecord)>> = generated
            .counts()
            .filter_map(|(name, _)| Some((name, source.schema(name)?)))
            .map(|(name, schema)| {
                let records = source
                    .all_records(&SObject::new(name))
                    .into_iter()
                    .map(|r| {
                        let id = r.id().expect("generated ids are valid").to_string();
                        (id, r)
                    })
                    .collect();
                (SObject::new(&schema.name), records)
            })
            .collect();
        FakeOrg::from_records(Records::new(by_object), standard_schemas())
    }

    /// Removes an object, as in an org without Orders or Quotes enabled:
    /// describing it gives 404 `NOT_FOUND`, querying it `INVALID_TYPE`.
    pub fn without_object(mut self, object: SObject) -> FakeOrg {
        self.schemas.remove(&object.as_str().to_ascii_lowercase());
        self
    }

    /// Hides a field from this org's user: describe leaves it out, and a
    /// query that selects it gets `INVALID_FIELD`.
    pub fn hide_field(mut self, object: SObject, field: &str) -> FakeOrg {
        self.hidden.insert((
            object.as_str().to_ascii_lowercase(),
            field.to_ascii_lowercase(),
        ));
        self
    }

    /// The objects this org has, in name order.
    pub fn objects(&self) -> Vec<SObject> {
        self.schemas
            .values()
            .map(|s| SObject::new(&s.name))
            .collect()
    }

    /// How many live records of `object` the org has, those in the
    /// recycle bin left out (0 for an object it does not have).
    pub fn count(&self, object: &SObject) -> u64 {
        let Some(schema) = self.schema(object.as_str()) else {
            return 0;
        };
        match &self.data {
            Data::Files(_) => {
                let records = self.read();
                let records = records.sorted(&SObject::new(&schema.name));
                records
                    .iter()
                    .filter(|(_, r)| !store::is_deleted(r))
                    .count() as u64
            }
            Data::Generated(g) => g.count(&schema.name),
        }
    }

    /// The first `limit` live records of `object` in Id order (those in
    /// the recycle bin left out), with every described field: for tests
    /// that compare what a client read with what the org holds.
    ///
    /// ```
    /// use salesforce_import::SObject;
    /// use salesforce_import_fake::FakeOrg;
    ///
    /// let org = FakeOrg::sample();
    /// let accounts = org.records(&SObject::ACCOUNT, 3);
    /// assert_eq!(accounts.len(), 3);
    /// assert_eq!(accounts[0].boolean("IsDeleted")?, Some(false));
    /// # Ok::<(), salesforce_import::FieldError>(())
    /// ```
    pub fn records(&self, object: &SObject, limit: usize) -> Vec<SfRecord> {
        self.records_where(object, limit, false)
    }

    /// Every record of `object` in Id order, those in the recycle bin
    /// included (with `IsDeleted` true), with every described field.
    ///
    /// ```
    /// use salesforce_import::SObject;
    /// use salesforce_import_fake::FakeOrg;
    ///
    /// let org = FakeOrg::sample();
    /// let contact = org.records(&SObject::CONTACT, 1)[0].id()?;
    /// org.delete(&SObject::CONTACT, &contact)?;
    /// let all = org.all_records(&SObject::CONTACT);
    /// assert_eq!(all.len() as u64, org.count(&SObject::CONTACT) + 1);
    /// let deleted = all.iter().find(|r| r.id().unwrap() == contact).unwrap();
    /// assert_eq!(deleted.boolean("IsDeleted")?, Some(true));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn all_records(&self, object: &SObject) -> Vec<SfRecord> {
        self.records_where(object, usize::MAX, true)
    }

    fn records_where(&self, object: &SObject, limit: usize, deleted: bool) -> Vec<SfRecord> {
        let Some(schema) = self.schema(object.as_str()) else {
            return Vec::new();
        };
        let columns: Vec<Column> = schema
            .fields
            .iter()
            .filter(|f| self.visible(&schema.name, &f.name))
            .map(|f| Column::Field(f.name.clone()))
            .collect();
        let positions: Vec<u64> = match &self.data {
            Data::Files(_) => {
                let records = self.read();
                let records = records.sorted(&SObject::new(&schema.name));
                (0..records.len() as u64)
                    .filter(|&i| deleted || !store::is_deleted(&records[i as usize].1))
                    .take(limit)
                    .collect()
            }
            Data::Generated(g) => (0..g.count(&schema.name).min(limit as u64)).collect(),
        };
        let mut out = String::new();
        self.write_records(
            schema,
            positions.iter().copied(),
            &columns,
            "60.0",
            &mut out,
        );
        let records: Vec<SfRecord> =
            serde_json::from_str(&format!("[{out}]")).expect("the fake writes valid record JSON");
        records
    }

    /// The records, for reading. Only for a file-backed org.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Records> {
        match &self.data {
            Data::Files(records) => records.read().unwrap_or_else(|e| e.into_inner()),
            Data::Generated(_) => unreachable!("a generated org holds no records"),
        }
    }

    /// The records, for changing them, or `None` for a generated org.
    pub(crate) fn write(&self) -> Option<RwLockWriteGuard<'_, Records>> {
        match &self.data {
            Data::Files(records) => Some(records.write().unwrap_or_else(|e| e.into_inner())),
            Data::Generated(_) => None,
        }
    }

    pub(crate) fn schema(&self, name: &str) -> Option<&ObjectSchema> {
        self.schemas.get(&name.to_ascii_lowercase())
    }

    pub(crate) fn schemas(&self) -> impl Iterator<Item = &ObjectSchema> {
        self.schemas.values()
    }

    pub(crate) fn visible(&self, object: &str, field: &str) -> bool {
        !self
            .hidden
            .contains(&(object.to_ascii_lowercase(), field.to_ascii_lowercase()))
    }

    pub(crate) fn visible_field<'a>(
        &self,
        schema: &'a ObjectSchema,
        name: &str,
    ) -> Option<&'a FieldDef> {
        schema
            .field(name)
            .filter(|f| self.visible(&schema.name, &f.name))
    }
}

fn standard_schemas() -> BTreeMap<String, ObjectSchema> {
    schema::STANDARD_OBJECTS
        .iter()
        .map(|name| {
            (
                name.to_ascii_lowercase(),
                schema::schema_for(name, key_prefix(name)),
            )
        })
        .collect()
}
