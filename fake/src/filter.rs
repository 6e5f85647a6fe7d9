//! Which records a query returns, and in which order: its `WHERE` and
//! `ORDER BY` resolved against the object's fields, then evaluated over
//! the org's records when the query starts.
//!
//! The result is a snapshot of positions ([`Rows`]); pages render the
//! records at those positions with their values at the time. A generated
//! org filtered on `Id` only, in Id order, is a range of positions, so
//! that a million records cost nothing; any other query scans.

use std::sync::Arc;

use super::generated;
use super::org::{Data, FakeOrg};
use super::schema::{FieldType, ObjectSchema};
use super::soql::{self, Expr, Literal, Op, Query, SoqlError};
use super::store::{self, stamp_millis};
use salesforce_import::{SObject, SfId};

/// A resolved `WHERE` condition.
#[derive(Debug, Clone)]
pub(crate) enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Compare {
        /// The field's canonical name.
        field: String,
        op: Op,
        value: Value,
    },
}

/// What a field is compared with: an 18-character id (for `Id` and
/// references), an instant in milliseconds, a boolean, or text (for `=`
/// and `!=` on text and picklist fields, ignoring case as SOQL does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Id(String),
    Millis(i64),
    Bool(bool),
    Text(String),
}

/// A sort key's part: `null` first, as `ASC` sorts in SOQL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Null,
    Millis(i64),
    Text(String),
}

/// How a field's values compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Id,
    Millis,
    Bool,
    Text,
}

/// The raw JSON text of a field of one record, `None` for null or absent.
type Get<'a> = dyn Fn(&str) -> Option<String> + 'a;

fn kind_of(kind: FieldType) -> Option<Kind> {
    match kind {
        FieldType::Id | FieldType::Reference => Some(Kind::Id),
        FieldType::Datetime => Some(Kind::Millis),
        FieldType::Boolean => Some(Kind::Bool),
        FieldType::String
        | FieldType::Textarea
        | FieldType::Phone
        | FieldType::Url
        | FieldType::Email
        | FieldType::Picklist => Some(Kind::Text),
        _ => None,
    }
}

/// The key of a raw value of this kind; `Key::Null` for an unreadable one.
fn key(kind: Kind, raw: Option<String>) -> Key {
    let Some(raw) = raw else { return Key::Null };
    match kind {
        Kind::Id => serde_json::from_str::<String>(&raw)
            .ok()
            .and_then(|s| SfId::parse(&s).ok())
            .map_or(Key::Null, |id| Key::Text(id.as_str().to_owned())),
        Kind::Millis => stamp_millis(&raw).map_or(Key::Null, Key::Millis),
        Kind::Bool => match raw.as_str() {
            "true" => Key::Millis(1),
            "false" => Key::Millis(0),
            _ => Key::Null,
        },
        Kind::Text => {
            serde_json::from_str::<String>(&raw).map_or(Key::Null, |t| Key::Text(t.to_lowercase()))
        }
    }
}

impl Filter {
    /// Whether the record `get` reads satisfies the condition. A null
    /// value satisfies only `!=`.
    fn matches(&self, get: &Get<'_>) -> bool {
        match self {
            Filter::And(all) => all.iter().all(|f| f.matches(get)),
            Filter::Or(any) => any.iter().any(|f| f.matches(get)),
            Filter::Compare { field, op, value } => {
                let (kind, want) = match value {
                    Value::Id(id) => (Kind::Id, Key::Text(id.clone())),
                    Value::Millis(m) => (Kind::Millis, Key::Millis(*m)),
                    Value::Bool(b) => (Kind::Bool, Key::Millis(i64::from(*b))),
                    Value::Text(t) => (Kind::Text, Key::Text(t.to_lowercase())),
                };
                match key(kind, get(field)) {
                    Key::Null => *op == Op::Ne,
                    got => op.holds(got.cmp(&want)),
                }
            }
        }
    }

    /// Whether the condition is only `Id` bounds joined by `AND`: a range
    /// of positions in Id order.
    fn is_id_range(&self) -> bool {
        match self {
            Filter::And(all) => all.iter().all(Filter::is_id_range),
            Filter::Or(_) => false,
            Filter::Compare { field, op, .. } => field == "Id" && *op != Op::Ne,
        }
    }

    /// Narrows `[lo, hi)` by the `Id` bounds every match must meet.
    /// `position(id, inclusive)` is the number of ids before `id` (and
    /// equal to it when `inclusive`).
    fn narrow(&self, lo: &mut u64, hi: &mut u64, position: &dyn Fn(&str, bool) -> u64) {
        match self {
            Filter::And(all) => all.iter().for_each(|f| f.narrow(lo, hi, position)),
            Filter::Or(_) => {}
            Filter::Compare { field, op, value } => {
                let Value::Id(id) = value else { return };
                if field != "Id" {
                    return;
                }
                let (from, to) = match op {
                    Op::Gt => (Some(position(id, true)), None),
                    Op::Ge => (Some(position(id, false)), None),
                    Op::Lt => (None, Some(position(id, false))),
                    Op::Le => (None, Some(position(id, true))),
                    Op::Eq => (Some(position(id, false)), Some(position(id, true))),
                    Op::Ne => (None, None),
                };
                *lo = (*lo).max(from.unwrap_or(0));
                *hi = (*hi).min(to.unwrap_or(u64::MAX));
            }
        }
    }
}

/// A query's records: positions in the object's Id order.
#[derive(Debug, Clone)]
pub(crate) enum Rows {
    /// Positions `[start, end)`.
    Range { start: u64, end: u64 },
    /// These positions, in this order.
    List(Arc<[u64]>),
}

impl Rows {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Rows::Range { start, end } => end.saturating_sub(*start),
            Rows::List(list) => list.len() as u64,
        }
    }

    /// The position of the `i`-th record.
    pub(crate) fn get(&self, i: u64) -> u64 {
        match self {
            Rows::Range { start, .. } => start + i,
            Rows::List(list) => list[i as usize],
        }
    }
}

/// What a query selects records by: resolved against the object.
#[derive(Debug, Clone)]
pub(crate) struct Selection {
    filter: Option<Filter>,
    /// Sort fields (canonical names) before the implicit `Id`.
    order: Vec<(String, Kind)>,
    limit: Option<u64>,
    /// `queryAll`: records in the recycle bin too.
    deleted: bool,
}

/// Resolves a query's `WHERE` and `ORDER BY` against the object's
/// visible fields.
pub(crate) fn resolve(
    org: &FakeOrg,
    schema: &ObjectSchema,
    query: &Query,
    soql: &str,
    deleted: bool,
) -> Result<Selection, SoqlError> {
    let filter = query
        .filter
        .as_ref()
        .map(|e| resolve_expr(org, schema, e, soql))
        .transpose()?;
    let mut order = Vec::new();
    for field in &query.order {
        let (name, kind) = field_kind(org, schema, &field.text, field.at, soql)?;
        if matches!(kind, Kind::Bool | Kind::Text) {
            return Err(soql::unsupported(
                soql,
                field.at,
                &format!("ordering by {name}"),
            ));
        }
        if name == "Id" {
            // Records are in Id order once sorted by what comes before it.
            break;
        }
        order.push((name, kind));
    }
    Ok(Selection {
        filter,
        order,
        limit: query.limit,
        deleted,
    })
}

/// A field's canonical name and how it compares.
fn field_kind(
    org: &FakeOrg,
    schema: &ObjectSchema,
    name: &str,
    at: usize,
    soql: &str,
) -> Result<(String, Kind), SoqlError> {
    if name.contains('.') {
        return Err(soql::unsupported(soql, at, "a relationship field here"));
    }
    let def = org.visible_field(schema, name).ok_or_else(|| {
        SoqlError::at(
            "INVALID_FIELD",
            soql,
            at,
            &format!(
                "No such column '{name}' on entity '{}'. If you are attempting to use a custom \
                 field, be sure to append the '__c' after the custom field name. Please \
                 reference your WSDL or the describe call for the appropriate names.",
                schema.name
            ),
        )
    })?;
    let kind = kind_of(def.kind).ok_or_else(|| {
        soql::unsupported(
            soql,
            at,
            &format!(
                "a filter or order on {} (a field other than Id, a reference, a datetime, \
                 a boolean or text)",
                def.name
            ),
        )
    })?;
    Ok((def.name.clone(), kind))
}

fn resolve_expr(
    org: &FakeOrg,
    schema: &ObjectSchema,
    expr: &Expr,
    soql: &str,
) -> Result<Filter, SoqlError> {
    let all = |list: &[Expr]| -> Result<Vec<Filter>, SoqlError> {
        list.iter()
            .map(|e| resolve_expr(org, schema, e, soql))
            .collect()
    };
    let (field, op, literal, at) = match expr {
        Expr::And(list) => return all(list).map(Filter::And),
        Expr::Or(list) => return all(list).map(Filter::Or),
        Expr::Compare {
            field,
            op,
            value,
            at,
        } => (field, *op, value, *at),
    };
    let (name, kind) = field_kind(org, schema, &field.text, field.at, soql)?;
    let mismatch = |what: &str| {
        SoqlError::at(
            "INVALID_FIELD",
            soql,
            at,
            &format!("value of filter criterion for field '{name}' must be of type {what}"),
        )
    };
    let value = match (kind, literal) {
        (Kind::Id, Literal::Str(text)) => {
            let id = SfId::parse(text).map_err(|_| SoqlError {
                code: "INVALID_QUERY_FILTER_OPERATOR",
                message: format!("invalid ID field: {text}"),
            })?;
            Value::Id(id.as_str().to_owned())
        }
        (Kind::Id, _) => return Err(mismatch("id and should be enclosed in quotes")),
        (Kind::Millis, Literal::DateTime(millis)) => Value::Millis(*millis),
        (Kind::Millis, _) => {
            return Err(mismatch("dateTime and should not be enclosed in quotes"));
        }
        (Kind::Bool, Literal::Bool(b)) if matches!(op, Op::Eq | Op::Ne) => Value::Bool(*b),
        (Kind::Bool, Literal::Bool(_)) => {
            return Err(SoqlError::at(
                "INVALID_QUERY_FILTER_OPERATOR",
                soql,
                field.at,
                &format!("invalid operator on boolean field: {name}"),
            ));
        }
        (Kind::Bool, _) => return Err(mismatch("boolean and should not be enclosed in quotes")),
        (Kind::Text, Literal::Str(text)) if matches!(op, Op::Eq | Op::Ne) => {
            Value::Text(text.clone())
        }
        (Kind::Text, Literal::Str(_)) => {
            return Err(soql::unsupported(
                soql,
                field.at,
                &format!("an ordering comparison on text field {name}"),
            ));
        }
        (Kind::Text, _) => return Err(mismatch("string and should be enclosed in quotes")),
    };
    Ok(Filter::Compare {
        field: name,
        op,
        value,
    })
}

impl FakeOrg {
    /// The records a query selects, in its order, as they are now.
    pub(crate) fn select(&self, schema: &ObjectSchema, selection: &Selection) -> Rows {
        let filter = selection.filter.as_ref();
        let object = schema.name.as_str();
        match &self.data {
            Data::Generated(g) => {
                let n = g.count(object);
                let prefix = schema.key_prefix.as_str();
                let position = |id: &str, inclusive: bool| {
                    if inclusive {
                        generated::position_after(prefix, n, id)
                    } else {
                        generated::position_before(prefix, n, id)
                    }
                };
                let (mut lo, mut hi) = (0, n);
                if let Some(f) = filter {
                    f.narrow(&mut lo, &mut hi, &position);
                }
                let hi = hi.max(lo);
                if selection.order.is_empty() && filter.is_none_or(Filter::is_id_range) {
                    let end = selection.limit.map_or(hi, |l| hi.min(lo.saturating_add(l)));
                    return Rows::Range { start: lo, end };
                }
                let get = |i: u64, field: &str| {
                    let mut out = String::new();
                    g.write_value(object, field, i, &mut out);
                    (out != "null").then_some(out)
                };
                finish(lo..hi, selection, &get)
            }
            Data::Files(_) => {
                let records = self.read();
                let records = records.sorted(&SObject::new(object));
                let position = |id: &str, inclusive: bool| {
                    records.partition_point(|(key, _)| {
                        if inclusive {
                            key.as_str() <= id
                        } else {
                            key.as_str() < id
                        }
                    }) as u64
                };
                let (mut lo, mut hi) = (0, records.len() as u64);
                if let Some(f) = filter {
                    f.narrow(&mut lo, &mut hi, &position);
                }
                let hi = hi.max(lo);
                let live = (lo..hi)
                    .filter(|&i| selection.deleted || !store::is_deleted(&records[i as usize].1));
                let get = |i: u64, field: &str| {
                    let raw = records[i as usize].1.raw_field(field)?;
                    (raw != "null").then(|| raw.to_owned())
                };
                finish(live, selection, &get)
            }
        }
    }
}

/// The candidates (in Id order) that match, sorted, cut to the limit.
fn finish(
    candidates: impl Iterator<Item = u64>,
    selection: &Selection,
    get: &dyn Fn(u64, &str) -> Option<String>,
) -> Rows {
    let mut rows: Vec<u64> = candidates
        .filter(|&i| {
            selection
                .filter
                .as_ref()
                .is_none_or(|f| f.matches(&|field| get(i, field)))
        })
        .collect();
    if !selection.order.is_empty() {
        // Ties keep Id order: positions are in it.
        rows.sort_by_cached_key(|&i| {
            let keys: Vec<Key> = selection
                .order
                .iter()
                .map(|(field, kind)| key(*kind, get(i, field)))
                .collect();
            (keys, i)
        });
    }
    if let Some(limit) = selection.limit {
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    Rows::List(rows.into())
}
