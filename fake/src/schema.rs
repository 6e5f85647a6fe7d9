//! The fake org's metadata: which objects and fields exist, with their
//! types, and the describe JSON built from them.

use serde_json::{Value, json};

/// A field's data type, as describe names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldType {
    Id,
    String,
    Textarea,
    Phone,
    Url,
    Email,
    Picklist,
    Boolean,
    Int,
    Double,
    Currency,
    Percent,
    Date,
    Datetime,
    Reference,
}

impl FieldType {
    fn api_name(self) -> &'static str {
        match self {
            FieldType::Id => "id",
            FieldType::String => "string",
            FieldType::Textarea => "textarea",
            FieldType::Phone => "phone",
            FieldType::Url => "url",
            FieldType::Email => "email",
            FieldType::Picklist => "picklist",
            FieldType::Boolean => "boolean",
            FieldType::Int => "int",
            FieldType::Double => "double",
            FieldType::Currency => "currency",
            FieldType::Percent => "percent",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Reference => "reference",
        }
    }

    fn soap_type(self) -> &'static str {
        match self {
            FieldType::Id | FieldType::Reference => "tns:ID",
            FieldType::Boolean => "xsd:boolean",
            FieldType::Int => "xsd:int",
            FieldType::Double | FieldType::Currency | FieldType::Percent => "xsd:double",
            FieldType::Date => "xsd:date",
            FieldType::Datetime => "xsd:dateTime",
            _ => "xsd:string",
        }
    }

    fn length(self) -> u32 {
        match self {
            FieldType::Id | FieldType::Reference => 18,
            FieldType::Textarea => 32000,
            FieldType::Phone | FieldType::Picklist => 40,
            FieldType::String | FieldType::Url | FieldType::Email => 255,
            _ => 0,
        }
    }
}

/// One field of an object.
#[derive(Debug, Clone)]
pub(crate) struct FieldDef {
    /// The API name, in its canonical case.
    pub(crate) name: String,
    pub(crate) kind: FieldType,
    /// For a reference: the object it points to.
    pub(crate) reference_to: Option<String>,
}

impl FieldDef {
    fn new(name: &str, kind: FieldType, reference_to: Option<&str>) -> FieldDef {
        FieldDef {
            name: name.to_owned(),
            kind,
            reference_to: reference_to.map(str::to_owned),
        }
    }

    /// The relationship name of a reference field (`ParentId` → `Parent`).
    pub(crate) fn relationship_name(&self) -> Option<&str> {
        self.reference_to.as_ref()?;
        self.name.strip_suffix("Id").filter(|r| !r.is_empty())
    }
}

/// One object: its name, key prefix and fields.
#[derive(Debug, Clone)]
pub(crate) struct ObjectSchema {
    pub(crate) name: String,
    pub(crate) key_prefix: String,
    pub(crate) custom: bool,
    pub(crate) fields: Vec<FieldDef>,
}

impl ObjectSchema {
    /// A field by name, ignoring ASCII case as SOQL does.
    pub(crate) fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The reference field whose relationship has this name.
    pub(crate) fn relationship(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| {
            f.relationship_name()
                .is_some_and(|r| r.eq_ignore_ascii_case(name))
        })
    }

    /// Adds a field unless one of that name exists.
    pub(crate) fn add_field(&mut self, def: FieldDef) {
        if self.field(&def.name).is_none() {
            self.fields.push(def);
        }
    }
}

use FieldType as T;

const ADDRESS: [(&str, FieldType); 5] = [
    ("Street", T::Textarea),
    ("City", T::String),
    ("State", T::String),
    ("PostalCode", T::String),
    ("Country", T::String),
];

/// The standard objects the fake knows, with the fields a real org has
/// for the crate's mappers (and a few system fields).
pub(crate) const STANDARD_OBJECTS: [&str; 10] = [
    "Account",
    "Contact",
    "Opportunity",
    "Pricebook2",
    "Product2",
    "PricebookEntry",
    "Order",
    "OrderItem",
    "Quote",
    "QuoteLineItem",
];

type Spec = &'static [(&'static str, FieldType, Option<&'static str>)];

fn standard_spec(object: &str) -> (Spec, &'static [&'static str]) {
    const NONE: Option<&str> = None;
    match object {
        "Account" => (
            &[
                ("Name", T::String, NONE),
                ("AccountNumber", T::String, NONE),
                ("Type", T::Picklist, NONE),
                ("ParentId", T::Reference, Some("Account")),
                ("Phone", T::Phone, NONE),
                ("Website", T::Url, NONE),
                ("Industry", T::Picklist, NONE),
                ("AnnualRevenue", T::Currency, NONE),
                ("NumberOfEmployees", T::Int, NONE),
                ("Description", T::Textarea, NONE),
            ],
            &["Billing", "Shipping"],
        ),
        "Contact" => (
            &[
                ("AccountId", T::Reference, Some("Account")),
                ("FirstName", T::String, NONE),
                ("LastName", T::String, NONE),
                ("Name", T::String, NONE),
                ("Email", T::Email, NONE),
                ("Phone", T::Phone, NONE),
                ("Title", T::String, NONE),
                ("Department", T::String, NONE),
                ("DoNotCall", T::Boolean, NONE),
                ("Description", T::Textarea, NONE),
            ],
            &["Mailing"],
        ),
        "Opportunity" => (
            &[
                ("Name", T::String, NONE),
                ("AccountId", T::Reference, Some("Account")),
                ("ContactId", T::Reference, Some("Contact")),
                ("Pricebook2Id", T::Reference, Some("Pricebook2")),
                ("StageName", T::Picklist, NONE),
                ("Probability", T::Percent, NONE),
                ("Amount", T::Currency, NONE),
                ("CloseDate", T::Date, NONE),
                ("LeadSource", T::Picklist, NONE),
                ("Type", T::Picklist, NONE),
                ("IsClosed", T::Boolean, NONE),
                ("IsWon", T::Boolean, NONE),
                ("Description", T::Textarea, NONE),
            ],
            &[],
        ),
        "Pricebook2" => (
            &[
                ("Name", T::String, NONE),
                ("IsActive", T::Boolean, NONE),
                ("IsStandard", T::Boolean, NONE),
                ("Description", T::String, NONE),
            ],
            &[],
        ),
        "Product2" => (
            &[
                ("Name", T::String, NONE),
                ("ProductCode", T::String, NONE),
                ("Description", T::Textarea, NONE),
                ("IsActive", T::Boolean, NONE),
                ("Family", T::Picklist, NONE),
            ],
            &[],
        ),
        "PricebookEntry" => (
            &[
                ("Name", T::String, NONE),
                ("Pricebook2Id", T::Reference, Some("Pricebook2")),
                ("Product2Id", T::Reference, Some("Product2")),
                ("UnitPrice", T::Currency, NONE),
                ("IsActive", T::Boolean, NONE),
                ("UseStandardPrice", T::Boolean, NONE),
                ("ProductCode", T::String, NONE),
            ],
            &[],
        ),
        "Order" => (
            &[
                ("AccountId", T::Reference, Some("Account")),
                ("BillToContactId", T::Reference, Some("Contact")),
                ("OpportunityId", T::Reference, Some("Opportunity")),
                ("Pricebook2Id", T::Reference, Some("Pricebook2")),
                ("Name", T::String, NONE),
                ("OrderNumber", T::String, NONE),
                ("Status", T::Picklist, NONE),
                ("EffectiveDate", T::Date, NONE),
                ("ActivatedDate", T::Datetime, NONE),
                ("TotalAmount", T::Currency, NONE),
                ("Description", T::Textarea, NONE),
            ],
            &["Billing", "Shipping"],
        ),
        "OrderItem" => (
            &[
                ("OrderId", T::Reference, Some("Order")),
                ("Product2Id", T::Reference, Some("Product2")),
                ("PricebookEntryId", T::Reference, Some("PricebookEntry")),
                ("OrderItemNumber", T::String, NONE),
                ("Description", T::String, NONE),
                ("Quantity", T::Double, NONE),
                ("UnitPrice", T::Currency, NONE),
                ("ListPrice", T::Currency, NONE),
                ("TotalPrice", T::Currency, NONE),
            ],
            &[],
        ),
        "Quote" => (
            &[
                ("Name", T::String, NONE),
                ("QuoteNumber", T::String, NONE),
                ("AccountId", T::Reference, Some("Account")),
                ("ContactId", T::Reference, Some("Contact")),
                ("OpportunityId", T::Reference, Some("Opportunity")),
                ("Pricebook2Id", T::Reference, Some("Pricebook2")),
                ("Status", T::Picklist, NONE),
                ("Subtotal", T::Currency, NONE),
                ("Discount", T::Percent, NONE),
                ("Tax", T::Currency, NONE),
                ("TotalPrice", T::Currency, NONE),
                ("GrandTotal", T::Currency, NONE),
                ("ExpirationDate", T::Date, NONE),
                ("Description", T::Textarea, NONE),
            ],
            &[],
        ),
        "QuoteLineItem" => (
            &[
                ("QuoteId", T::Reference, Some("Quote")),
                ("Product2Id", T::Reference, Some("Product2")),
                ("PricebookEntryId", T::Reference, Some("PricebookEntry")),
                ("LineNumber", T::String, NONE),
                ("Description", T::String, NONE),
                ("Quantity", T::Double, NONE),
                ("UnitPrice", T::Currency, NONE),
                ("Discount", T::Percent, NONE),
                ("TotalPrice", T::Currency, NONE),
            ],
            &[],
        ),
        _ => (&[], &[]),
    }
}

/// The schema of a standard object, or of a custom one (Id and Name only;
/// fields found in the data are added by the org).
pub(crate) fn schema_for(object: &str, key_prefix: &str) -> ObjectSchema {
    let (spec, addresses) = standard_spec(object);
    let mut fields = vec![FieldDef::new("Id", T::Id, None)];
    if spec.is_empty() {
        fields.push(FieldDef::new("Name", T::String, None));
    }
    for (name, kind, target) in spec {
        fields.push(FieldDef::new(name, *kind, *target));
    }
    for prefix in addresses {
        for (part, kind) in ADDRESS {
            fields.push(FieldDef::new(&format!("{prefix}{part}"), kind, None));
        }
    }
    for (name, kind) in [
        ("CurrencyIsoCode", T::Picklist),
        ("IsDeleted", T::Boolean),
        ("CreatedDate", T::Datetime),
        ("LastModifiedDate", T::Datetime),
        ("SystemModstamp", T::Datetime),
    ] {
        fields.push(FieldDef::new(name, kind, None));
    }
    ObjectSchema {
        name: object.to_owned(),
        key_prefix: key_prefix.to_owned(),
        custom: object.ends_with("__c"),
        fields,
    }
}

/// The type of a field found only in data, from one of its values.
pub(crate) fn infer_type(value: &Value) -> Option<FieldType> {
    Some(match value {
        Value::Bool(_) => T::Boolean,
        Value::Number(n) if n.is_i64() => T::Int,
        Value::Number(_) => T::Double,
        Value::String(_) | Value::Null => T::String,
        Value::Object(_) | Value::Array(_) => return None,
    })
}

/// `BillingPostalCode` → `Billing Postal Code`.
fn label(name: &str) -> String {
    let base = name.strip_suffix("__c").unwrap_or(name);
    let mut out = String::with_capacity(base.len() + 4);
    let chars: Vec<char> = base.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let boundary = i > 0
            && c.is_ascii_uppercase()
            && (chars[i - 1].is_ascii_lowercase()
                || chars.get(i + 1).is_some_and(char::is_ascii_lowercase));
        if boundary {
            out.push(' ');
        }
        out.push(if c == '_' { ' ' } else { c });
    }
    out
}

fn plural(label: &str) -> String {
    match label.strip_suffix('y') {
        Some(stem) => format!("{stem}ies"),
        None => format!("{label}s"),
    }
}

fn object_urls(version: &str, name: &str) -> Value {
    let base = format!("/services/data/v{version}/sobjects/{name}");
    json!({
        "compactLayouts": format!("{base}/describe/compactLayouts"),
        "rowTemplate": format!("{base}/{{ID}}"),
        "approvalLayouts": format!("{base}/describe/approvalLayouts"),
        "listviews": format!("{base}/listviews"),
        "describe": format!("{base}/describe"),
        "quickActions": format!("{base}/quickActions"),
        "layouts": format!("{base}/describe/layouts"),
        "sobject": base,
    })
}

/// One entry of describe global (`GET /sobjects`).
pub(crate) fn global_entry(schema: &ObjectSchema, version: &str) -> Value {
    let label = label(&schema.name);
    json!({
        "activateable": false,
        "associateEntityType": null,
        "associateParentEntity": null,
        "createable": true,
        "custom": schema.custom,
        "customSetting": false,
        "deepCloneable": false,
        "deletable": true,
        "deprecatedAndHidden": false,
        "feedEnabled": !schema.custom,
        "hasSubtypes": false,
        "isInterface": false,
        "isSubtype": false,
        "keyPrefix": schema.key_prefix,
        "label": label,
        "labelPlural": plural(&label),
        "layoutable": true,
        "mergeable": false,
        "mruEnabled": true,
        "name": schema.name,
        "queryable": true,
        "replicateable": true,
        "retrieveable": true,
        "searchable": true,
        "triggerable": true,
        "undeletable": true,
        "updateable": true,
        "urls": object_urls(version, &schema.name),
    })
}

fn describe_field(object: &str, f: &FieldDef) -> Value {
    let kind = f.kind;
    let is_id = kind == T::Id;
    let label = if is_id {
        format!("{} ID", label(object))
    } else {
        label(&f.name)
    };
    let (precision, scale, digits) = match kind {
        T::Currency => (18, 2, 0),
        T::Percent => (3, 0, 0),
        T::Double => (18, 2, 0),
        T::Int => (0, 0, 9),
        _ => (0, 0, 0),
    };
    let system = matches!(
        f.name.as_str(),
        "Id" | "IsDeleted" | "CreatedDate" | "LastModifiedDate" | "SystemModstamp"
    );
    let mut doc = json!({
        "aggregatable": true,
        "aiPredictionField": false,
        "autoNumber": false,
        "byteLength": kind.length() * 3,
        "calculated": false,
        "calculatedFormula": null,
        "cascadeDelete": false,
        "caseSensitive": false,
        "compoundFieldName": null,
        "controllerName": null,
        "createable": !system,
        "custom": f.name.ends_with("__c"),
        "defaultValue": null,
        "defaultValueFormula": null,
        "defaultedOnCreate": system || kind == T::Boolean,
        "dependentPicklist": false,
        "deprecatedAndHidden": false,
        "digits": digits,
        "displayLocationInDecimal": false,
        "encrypted": false,
        "externalId": false,
        "extraTypeInfo": null,
        "filterable": true,
        "filteredLookupInfo": null,
        "formulaTreatNullNumberAsZero": false,
        "groupable": !matches!(kind, T::Double | T::Currency | T::Percent | T::Textarea),
        "highScaleNumber": false,
        "htmlFormatted": false,
        "idLookup": is_id,
        "inlineHelpText": null,
    });
    let rest = json!({
        "label": label,
        "length": kind.length(),
        "mask": null,
        "maskType": null,
        "name": f.name,
        "nameField": f.name == "Name",
        "namePointing": false,
        "nillable": !(is_id || kind == T::Boolean || system),
        "permissionable": !system && kind != T::Boolean,
        "picklistValues": [],
        "polymorphicForeignKey": false,
        "precision": precision,
        "queryByDistance": false,
        "referenceTargetField": null,
        "referenceTo": f.reference_to.iter().collect::<Vec<_>>(),
        "relationshipName": f.relationship_name(),
        "relationshipOrder": null,
        "restrictedDelete": false,
        "restrictedPicklist": false,
        "scale": scale,
        "searchPrefilterable": false,
        "soapType": kind.soap_type(),
        "sortable": kind != T::Textarea,
        "type": kind.api_name(),
        "unique": false,
        "updateable": !system,
        "writeRequiresMasterRead": false,
    });
    if let (Value::Object(doc), Value::Object(rest)) = (&mut doc, rest) {
        doc.extend(rest);
    }
    doc
}

/// `GET /sobjects/{Object}/describe`, shaped like a real org's answer.
/// `visible` filters out the fields hidden from this org's user.
pub(crate) fn describe(
    schema: &ObjectSchema,
    version: &str,
    visible: impl Fn(&FieldDef) -> bool,
) -> Value {
    let mut doc = global_entry(schema, version);
    let map = doc.as_object_mut().expect("global_entry builds an object");
    for key in ["associateEntityType", "associateParentEntity"] {
        map.remove(key);
    }
    let fields: Vec<Value> = schema
        .fields
        .iter()
        .filter(|f| visible(f))
        .map(|f| describe_field(&schema.name, f))
        .collect();
    let extra = json!({
        "actionOverrides": [],
        "childRelationships": [],
        "compactLayoutable": true,
        "defaultImplementation": null,
        "extendedBy": null,
        "extendsInterfaces": null,
        "fields": fields,
        "implementedBy": null,
        "implementsInterfaces": null,
        "listviewable": null,
        "lookupLayoutable": null,
        "namedLayoutInfos": [],
        "networkScopeFieldName": null,
        "recordTypeInfos": [],
        "searchLayoutable": true,
        "supportedScopes": [{"label": "All records", "name": "everything"}],
    });
    if let Value::Object(extra) = extra {
        map.extend(extra);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_split_camel_case() {
        assert_eq!(label("BillingPostalCode"), "Billing Postal Code");
        assert_eq!(label("Pricebook2Id"), "Pricebook2 Id");
        assert_eq!(label("MSRP__c"), "MSRP");
        assert_eq!(label("QuoteLineItem"), "Quote Line Item");
        assert_eq!(plural("Opportunity"), "Opportunities");
    }

    #[test]
    fn relationship_names() {
        let s = schema_for("Order", "801");
        assert_eq!(
            s.relationship("billtocontact").map(|f| f.name.as_str()),
            Some("BillToContactId")
        );
        assert!(s.relationship("Name").is_none());
        assert_eq!(
            s.field("accountid").and_then(|f| f.reference_to.as_deref()),
            Some("Account")
        );
    }
}
