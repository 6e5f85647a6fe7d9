//! [`FakeOrg`]: the data a [`FakeSalesforce`](super::FakeSalesforce)
//! serves, and how records are written into query pages.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use super::generated::{self, Generated};
use super::schema::{self, FieldDef, ObjectSchema};
use super::soql::{SoqlError, Spanned};
use crate::ids::key_prefix;
use salesforce_import::{FileSource, Result, SObject, SfRecord};

/// The records and metadata of a fake org: loaded from sObject Tree or
/// query-result JSON, the bundled sample org, or generated on the fly.
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
    data: Data,
    /// By lower-case object name.
    schemas: BTreeMap<String, ObjectSchema>,
    /// (object, field), lower case.
    hidden: BTreeSet<(String, String)>,
}

#[derive(Debug, Clone)]
enum Data {
    Files(Arc<Records>),
    Generated(Generated),
}

/// The records of a [`FileSource`] by object, each with its 18-character
/// id, in id order: what the fake serves and pages through.
#[derive(Debug, Default)]
struct Records(HashMap<SObject, Vec<(String, SfRecord)>>);

impl Records {
    fn from_source(source: &FileSource) -> Records {
        let by_object = source
            .objects()
            .map(|object| {
                let mut records: Vec<(String, SfRecord)> = source
                    .records(object)
                    .filter_map(|r| Some((r.id().ok()?.to_string(), r.clone())))
                    .collect();
                records.sort_by(|a, b| a.0.cmp(&b.0));
                (object.clone(), records)
            })
            .collect();
        Records(by_object)
    }

    fn sorted(&self, object: &SObject) -> &[(String, SfRecord)] {
        self.0.get(object).map_or(&[], Vec::as_slice)
    }
}

/// One column of a query result.
#[derive(Debug, Clone)]
pub(crate) enum Column {
    /// A field of the record itself, by canonical name.
    Field(String),
    /// Fields of a parent record through a relationship (`Account.Name`).
    Parent {
        relationship: String,
        reference_field: String,
        target: String,
        fields: Vec<String>,
    },
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
        FakeOrg {
            data: Data::Files(Arc::new(records)),
            schemas,
            hidden: BTreeSet::new(),
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
    pub fn generated(seed: u64, size: u64) -> FakeOrg {
        FakeOrg {
            data: Data::Generated(Generated::new(seed, size)),
            schemas: standard_schemas(),
            hidden: BTreeSet::new(),
        }
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

    /// How many records of `object` the org has (0 for an object it does
    /// not have).
    pub fn count(&self, object: &SObject) -> u64 {
        self.schema(object.as_str()).map_or(0, |s| self.len(s))
    }

    /// The first `limit` records of `object` in Id order, with every
    /// described field: for tests that compare what a client read with
    /// what the org holds.
    pub fn records(&self, object: &SObject, limit: usize) -> Vec<SfRecord> {
        let Some(schema) = self.schema(object.as_str()) else {
            return Vec::new();
        };
        let columns: Vec<Column> = schema
            .fields
            .iter()
            .filter(|f| self.visible(&schema.name, &f.name))
            .map(|f| Column::Field(f.name.clone()))
            .collect();
        let n = self.len(schema).min(limit as u64);
        (0..n)
            .map(|i| {
                let mut out = String::new();
                self.write_record(schema, i, &columns, "60.0", &mut out);
                SfRecord::from_json(&out).expect("the fake writes valid record JSON")
            })
            .collect()
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

    fn visible_field<'a>(&self, schema: &'a ObjectSchema, name: &str) -> Option<&'a FieldDef> {
        schema
            .field(name)
            .filter(|f| self.visible(&schema.name, &f.name))
    }

    /// How many records the object has.
    pub(crate) fn len(&self, schema: &ObjectSchema) -> u64 {
        match &self.data {
            Data::Files(source) => source.sorted(&SObject::new(&schema.name)).len() as u64,
            Data::Generated(g) => g.count(&schema.name),
        }
    }

    /// The position of the first record whose id sorts after `after`.
    pub(crate) fn position_after(&self, schema: &ObjectSchema, after: &str) -> u64 {
        match &self.data {
            Data::Files(source) => source
                .sorted(&SObject::new(&schema.name))
                .partition_point(|(key, _)| key.as_str() <= after)
                as u64,
            Data::Generated(g) => {
                generated::position_after(&schema.key_prefix, g.count(&schema.name), after)
            }
        }
    }

    /// Resolves the selected fields against the object's visible fields.
    pub(crate) fn columns(
        &self,
        schema: &ObjectSchema,
        fields: &[Spanned],
        soql: &str,
    ) -> Result<Vec<Column>, SoqlError> {
        let mut columns: Vec<Column> = Vec::new();
        for field in fields {
            let Some((relationship, rest)) = field.text.split_once('.') else {
                let Some(def) = self.visible_field(schema, &field.text) else {
                    return Err(SoqlError::at(
                        "INVALID_FIELD",
                        soql,
                        field.at,
                        &format!(
                            "No such column '{}' on entity '{}'. If you are attempting to use \
                             a custom field, be sure to append the '__c' after the custom field \
                             name. Please reference your WSDL or the describe call for the \
                             appropriate names.",
                            field.text, schema.name
                        ),
                    ));
                };
                columns.push(Column::Field(def.name.clone()));
                continue;
            };
            let not_understood = || {
                SoqlError::at(
                    "INVALID_FIELD",
                    soql,
                    field.at,
                    &format!(
                        "Didn't understand relationship '{relationship}' in field path. If you \
                         are attempting to use a custom relationship, be sure to append the \
                         '__r' after the custom relationship name. Please reference your WSDL \
                         or the describe call for the appropriate names."
                    ),
                )
            };
            let reference = schema
                .relationship(relationship)
                .filter(|f| self.visible(&schema.name, &f.name))
                .ok_or_else(not_understood)?;
            let target_name = reference.reference_to.as_deref().unwrap_or_default();
            let target = self.schema(target_name).ok_or_else(not_understood)?;
            let Some(def) = (!rest.contains('.'))
                .then(|| self.visible_field(target, rest))
                .flatten()
            else {
                return Err(SoqlError::at(
                    "INVALID_FIELD",
                    soql,
                    field.at,
                    &format!(
                        "No such column '{rest}' on entity '{}'. If you are attempting to use a \
                         custom field, be sure to append the '__c' after the custom field name. \
                         Please reference your WSDL or the describe call for the appropriate \
                         names.",
                        target.name
                    ),
                ));
            };
            let relationship = reference
                .relationship_name()
                .expect("a relationship was found by this name")
                .to_owned();
            let existing = columns.iter_mut().find_map(|c| match c {
                Column::Parent {
                    relationship: r,
                    fields,
                    ..
                } if *r == relationship => Some(fields),
                _ => None,
            });
            match existing {
                Some(fields) => fields.push(def.name.clone()),
                None => columns.push(Column::Parent {
                    relationship,
                    reference_field: reference.name.clone(),
                    target: target.name.clone(),
                    fields: vec![def.name.clone()],
                }),
            }
        }
        Ok(columns)
    }

    /// Appends record `index` of the object as query-result JSON.
    pub(crate) fn write_record(
        &self,
        schema: &ObjectSchema,
        index: u64,
        columns: &[Column],
        version: &str,
        out: &mut String,
    ) {
        let object = schema.name.as_str();
        match &self.data {
            Data::Files(source) => {
                let records = source.sorted(&SObject::new(object));
                let (key, record) = &records[index as usize];
                write_attributes(out, object, version, Some(key));
                for column in columns {
                    match column {
                        Column::Field(name) => {
                            write_key(out, name);
                            out.push_str(record.raw_field(name).unwrap_or("null"));
                        }
                        Column::Parent {
                            relationship,
                            reference_field,
                            target,
                            fields,
                        } => {
                            write_key(out, relationship);
                            let parent = parent_record(
                                source,
                                record,
                                relationship,
                                reference_field,
                                target,
                            );
                            match parent {
                                None => out.push_str("null"),
                                Some((id, parent)) => {
                                    write_attributes(out, target, version, id.as_deref());
                                    for f in fields {
                                        write_key(out, f);
                                        out.push_str(parent.raw_field(f).unwrap_or("null"));
                                    }
                                    out.push('}');
                                }
                            }
                        }
                    }
                }
            }
            Data::Generated(g) => {
                let id = generated::id(&schema.key_prefix, index);
                write_attributes(out, object, version, Some(&id));
                for column in columns {
                    match column {
                        Column::Field(name) => {
                            write_key(out, name);
                            g.write_value(object, name, index, out);
                        }
                        Column::Parent {
                            relationship,
                            reference_field,
                            target,
                            fields,
                        } => {
                            write_key(out, relationship);
                            match g.reference(object, reference_field, index) {
                                None => out.push_str("null"),
                                Some((target_object, j)) => {
                                    let id = generated::id(key_prefix(target_object), j);
                                    write_attributes(out, target, version, Some(&id));
                                    for f in fields {
                                        write_key(out, f);
                                        g.write_value(target_object, f, j, out);
                                    }
                                    out.push('}');
                                }
                            }
                        }
                    }
                }
            }
        }
        out.push('}');
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

/// The parent record behind a relationship: the nested object the data
/// carries (`"Pricebook2": {...}`), else the record the reference field
/// names, if the org has it. Returns the parent's id too, when known.
fn parent_record(
    source: &Records,
    record: &SfRecord,
    relationship: &str,
    reference_field: &str,
    target: &str,
) -> Option<(Option<String>, SfRecord)> {
    let reference = record.sf_id(reference_field).ok().flatten();
    if let Some(raw) = record.raw_field(relationship) {
        if raw == "null" {
            return None;
        }
        let nested = SfRecord::from_json(raw).ok()?;
        let id = reference
            .map(|r| r.as_str().to_owned())
            .or_else(|| nested.id().ok().map(|i| i.as_str().to_owned()));
        return Some((id, nested));
    }
    let reference = reference?;
    let records = source.sorted(&SObject::new(target));
    let at = records.partition_point(|(key, _)| key.as_str() < reference.as_str());
    let (key, parent) = records
        .get(at)
        .filter(|(key, _)| key == reference.as_str())?;
    Some((Some(key.clone()), parent.clone()))
}

/// `{"attributes":{"type":..,"url":..}` (the object is left open).
fn write_attributes(out: &mut String, object: &str, version: &str, id: Option<&str>) {
    let _ = write!(out, "{{\"attributes\":{{\"type\":\"{object}\"");
    if let Some(id) = id {
        let _ = write!(
            out,
            ",\"url\":\"/services/data/v{version}/sobjects/{object}/{}\"",
            json_escape_inner(id)
        );
    }
    out.push('}');
}

fn write_key(out: &mut String, name: &str) {
    out.push_str(",\"");
    out.push_str(&json_escape_inner(name));
    out.push_str("\":");
}

/// A string's JSON text without the surrounding quotes.
fn json_escape_inner(s: &str) -> String {
    let quoted = serde_json::to_string(s).expect("a string always serializes");
    quoted[1..quoted.len() - 1].to_owned()
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
    fn sample_org_projects_relationships() {
        let org = FakeOrg::sample();
        let schema = org.schema("pricebookentry").unwrap();
        let cols = org
            .columns(
                schema,
                &spans(&["Id", "UnitPrice", "Pricebook2.IsStandard"]),
                "q",
            )
            .unwrap();
        let mut out = String::new();
        org.write_record(schema, 0, &cols, "60.0", &mut out);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["Pricebook2"]["IsStandard"], serde_json::json!(true));
        assert_eq!(v["Pricebook2"]["attributes"]["type"], "Pricebook2");
        assert_eq!(v["attributes"]["type"], "PricebookEntry");
    }

    #[test]
    fn generated_parent_fields_match_the_parent() {
        let org = FakeOrg::generated(3, 100);
        let contact = org.schema("Contact").unwrap();
        let cols = org
            .columns(contact, &spans(&["Id", "AccountId", "Account.Name"]), "q")
            .unwrap();
        for i in 0..20 {
            let mut out = String::new();
            org.write_record(contact, i, &cols, "60.0", &mut out);
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            if v["AccountId"].is_null() {
                assert!(v["Account"].is_null());
                continue;
            }
            let account = org.schema("Account").unwrap();
            let pos = org.position_after(account, v["AccountId"].as_str().unwrap()) - 1;
            let mut parent = String::new();
            let name = [Column::Field("Name".into())];
            org.write_record(account, pos, &name, "60.0", &mut parent);
            let p: serde_json::Value = serde_json::from_str(&parent).unwrap();
            assert_eq!(v["Account"]["Name"], p["Name"]);
        }
    }

    #[test]
    fn hidden_and_missing_names_are_invalid_fields() {
        let org = FakeOrg::sample().hide_field(SObject::ACCOUNT, "Phone");
        let account = org.schema("Account").unwrap();
        for bad in [
            "Phone",
            "Foo",
            "Parent.Foo",
            "Nope.Name",
            "Parent.Parent.Name",
        ] {
            let err = org.columns(account, &spans(&["Id", bad]), "q").unwrap_err();
            assert_eq!(err.code, "INVALID_FIELD", "{bad}");
        }
        assert!(
            org.columns(account, &spans(&["id", "NAME", "Parent.Name"]), "q")
                .is_ok()
        );
    }
}
