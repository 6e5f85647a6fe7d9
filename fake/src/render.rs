//! How records are written into query pages: the selected columns
//! resolved against the object, and each record's JSON with its parents'
//! fields through relationships.

use std::fmt::Write as _;

use super::generated;
use super::org::{Data, FakeOrg};
use super::schema::ObjectSchema;
use super::soql::{SoqlError, Spanned};
use super::store::Records;
use crate::ids::key_prefix;
use salesforce_import::{SObject, SfRecord};

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

    /// Appends the records at these positions of the object as
    /// query-result JSON, separated by commas, with their current values.
    pub(crate) fn write_records(
        &self,
        schema: &ObjectSchema,
        positions: impl Iterator<Item = u64>,
        columns: &[Column],
        version: &str,
        out: &mut String,
    ) {
        let guard = matches!(self.data, Data::Files(_)).then(|| self.read());
        for (n, index) in positions.enumerate() {
            if n > 0 {
                out.push(',');
            }
            self.write_record(guard.as_deref(), schema, index, columns, version, out);
        }
    }

    /// Appends record `index` of the object as query-result JSON.
    fn write_record(
        &self,
        source: Option<&Records>,
        schema: &ObjectSchema,
        index: u64,
        columns: &[Column],
        version: &str,
        out: &mut String,
    ) {
        let object = schema.name.as_str();
        match (&self.data, source) {
            (Data::Files(_), Some(source)) => {
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
            (Data::Files(_), None) => unreachable!("write_records reads a file-backed org"),
            (Data::Generated(g), _) => {
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

/// The parent record behind a relationship: the nested object the data
/// carries (`"Pricebook2": {...}`), else the record the reference field
/// names, if the org has it. Returns the parent's id too, when known.
pub(crate) fn parent_record(
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
        org.write_records(schema, [0].into_iter(), &cols, "60.0", &mut out);
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
            org.write_records(contact, [i].into_iter(), &cols, "60.0", &mut out);
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            if v["AccountId"].is_null() {
                assert!(v["Account"].is_null());
                continue;
            }
            let account = org.schema("Account").unwrap();
            let accounts = org.count(&SObject::ACCOUNT);
            let id = v["AccountId"].as_str().unwrap();
            let pos = generated::position_after(&account.key_prefix, accounts, id) - 1;
            let mut parent = String::new();
            let name = [Column::Field("Name".into())];
            org.write_records(account, [pos].into_iter(), &name, "60.0", &mut parent);
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
