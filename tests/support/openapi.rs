//! Holds real answers of the router to its OpenAPI document, without a
//! JSON Schema crate: the subset of JSON Schema the document uses (`$ref`,
//! `type`, `enum`, `required`, `properties`, `items`, `oneOf`, `minimum`,
//! `minLength`, `minItems`, `format: date-time`), with one rule stricter
//! than JSON Schema: an object may have no property its schema does not
//! declare.
#![allow(dead_code)] // each test crate uses a part

use serde_json::Value;

/// The document, and the checks against it.
pub struct Spec {
    doc: Value,
}

impl Spec {
    /// The document `ImportApi::openapi` returns.
    pub fn load() -> Spec {
        let text = salesforce_import::server::ImportApi::openapi();
        Spec {
            doc: serde_json::from_str(&text).expect("the document is JSON"),
        }
    }

    /// The document.
    pub fn doc(&self) -> &Value {
        &self.doc
    }

    /// The documented path template a concrete path falls under, the one
    /// with the most literal segments (`/import/history` before
    /// `/import/{id}`).
    pub fn template(&self, path: &str) -> Option<&str> {
        let path = path.split('?').next().unwrap_or_default();
        let segments: Vec<&str> = path.split('/').collect();
        self.doc["paths"]
            .as_object()?
            .keys()
            .filter(|template| {
                let parts: Vec<&str> = template.split('/').collect();
                parts.len() == segments.len()
                    && parts.iter().zip(&segments).all(|(t, s)| {
                        *t == *s || (t.starts_with('{') && t.ends_with('}') && !s.is_empty())
                    })
            })
            .max_by_key(|template| template.split('/').filter(|p| !p.starts_with('{')).count())
            .map(String::as_str)
    }

    /// Panics unless `status` is documented for `method path` and `body`
    /// is valid for that response's schema. A path outside the document
    /// must be the router's 404, with the error schema.
    pub fn check(&self, method: &str, path: &str, status: u16, body: &Value) {
        let Some(template) = self.template(path) else {
            assert_eq!(status, 404, "{method} {path} is not documented: {body}");
            let error = serde_json::json!({"$ref": "#/components/schemas/Error"});
            self.assert_valid(body, &error, path);
            return;
        };
        let operation = &self.doc["paths"][template][method.to_ascii_lowercase()];
        if operation.is_null() {
            assert_eq!(status, 405, "{method} {template} is not documented");
            return;
        }
        let response = &operation["responses"][status.to_string()];
        assert!(
            response.is_object(),
            "{method} {template} answered {status}, which the document does not list: {body}"
        );
        match response["content"]["application/json"].get("schema") {
            Some(schema) => {
                self.assert_valid(body, schema, &format!("{method} {template} {status}"))
            }
            None => assert!(
                body.is_null(),
                "{method} {template} {status}: undocumented body {body}"
            ),
        }
    }

    /// Panics with every way `value` breaks `schema`.
    pub fn assert_valid(&self, value: &Value, schema: &Value, what: &str) {
        let errors = self.errors(value, schema);
        assert!(
            errors.is_empty(),
            "{what}: the answer does not match the document:\n  {}\n{value:#}",
            errors.join("\n  ")
        );
    }

    /// Every way `value` breaks `schema`, each with a JSON path.
    pub fn errors(&self, value: &Value, schema: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.walk(value, schema, "$", &mut errors);
        errors
    }

    fn resolve<'a>(&'a self, reference: &str) -> &'a Value {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("an external $ref: {reference}"));
        self.doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("a dangling $ref: {reference}"))
    }

    fn walk(&self, value: &Value, schema: &Value, at: &str, errors: &mut Vec<String>) {
        if let Some(reference) = schema["$ref"].as_str() {
            return self.walk(value, self.resolve(reference), at, errors);
        }
        if let Some(options) = schema["oneOf"].as_array() {
            let matching = options
                .iter()
                .filter(|option| self.errors(value, option).is_empty())
                .count();
            if matching != 1 {
                errors.push(format!("{at}: matches {matching} of oneOf, not 1"));
            }
        }
        if let Some(types) = types(schema)
            && !types.iter().any(|t| is_type(value, t))
        {
            errors.push(format!("{at}: {value} is not {}", types.join(" or ")));
            return;
        }
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            errors.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
        if let (Some(min), Some(n)) = (schema["minimum"].as_f64(), value.as_f64())
            && n < min
        {
            errors.push(format!("{at}: {n} < {min}"));
        }
        match value {
            Value::String(s) => {
                if let Some(min) = schema["minLength"].as_u64()
                    && (s.chars().count() as u64) < min
                {
                    errors.push(format!("{at}: shorter than {min}"));
                }
                if schema["format"] == "date-time"
                    && chrono::DateTime::parse_from_rfc3339(s).is_err()
                {
                    errors.push(format!("{at}: {s:?} is not an RFC 3339 date-time"));
                }
            }
            Value::Array(items) => {
                if let Some(min) = schema["minItems"].as_u64()
                    && (items.len() as u64) < min
                {
                    errors.push(format!("{at}: fewer than {min} items"));
                }
                if let Some(item) = schema.get("items") {
                    for (i, value) in items.iter().enumerate() {
                        self.walk(value, item, &format!("{at}[{i}]"), errors);
                    }
                }
            }
            Value::Object(fields) => {
                for name in schema["required"].as_array().into_iter().flatten() {
                    let name = name.as_str().unwrap();
                    if !fields.contains_key(name) {
                        errors.push(format!("{at}: required {name:?} is missing"));
                    }
                }
                if let Some(properties) = schema["properties"].as_object() {
                    for (name, value) in fields {
                        match properties.get(name) {
                            Some(property) => {
                                self.walk(value, property, &format!("{at}.{name}"), errors)
                            }
                            None => errors.push(format!("{at}: {name:?} is not declared")),
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

fn types(schema: &Value) -> Option<Vec<&str>> {
    match &schema["type"] {
        Value::String(t) => Some(vec![t.as_str()]),
        Value::Array(ts) => Some(ts.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

fn is_type(value: &Value, t: &str) -> bool {
    match t {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        other => panic!("a type the checker does not know: {other}"),
    }
}
