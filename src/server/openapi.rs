//! The OpenAPI 3.1 document of the router, generated from the handlers'
//! `#[utoipa::path]` attributes and the views' `ToSchema` derives.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::{Modify, OpenApi};

use super::views::{ModeView, ObjectTypeName};
use super::{counts, handlers, log, preview};

/// What the document says of who may call.
const AUTH: &str = "The host authenticates every request with its own session (a cookie, a \
bearer token, headers from its proxy: whatever its `Authenticate` implementation reads) and \
names the caller's user, organization and role. No session: 401. Reads need a signed-in user; \
connecting, disconnecting, starting, cancelling and resuming need an admin (403 otherwise); \
`GET /status` says which of these the caller may do (`can`). Every \
state-changing request (POST, PUT, PATCH, DELETE) must carry `X-Requested-With: salesforce-import` and, \
with an `Origin` header, come from the request's own host or an origin the host allowed: 403 \
otherwise (cross-site request forgery defence). Every request \
sees only the caller's organization: another organization's job is 404, never 403. The \
`host_session` scheme below stands for the host's own: a host publishing this document replaces \
it with its real scheme.";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Salesforce import",
        description = "Connect a Salesforce org, import its Accounts, Contacts, Opportunities, \
Products, Orders and Quotes into the host CRM, and follow the imports.\n\n\
Paths are relative to where the host mounts the router (for example `/api/salesforce`); \
the host sets `servers`. Every error answer is `{\"error\": true, \"message\": \"...\"}`.",
    ),
    paths(
        handlers::status,
        handlers::connect,
        handlers::callback,
        handlers::disconnect,
        handlers::object_types,
        counts::object_counts,
        preview::preview,
        handlers::start_import,
        handlers::history,
        handlers::job,
        log::page,
        log::errors_csv,
        preview::missing_parents_csv,
        handlers::cancel,
        handlers::resume,
        document,
    ),
    components(schemas(ModeView, ObjectTypeName)),
    modifiers(&HostSession),
    tags(
        (name = "connection", description = "The organization's Salesforce connection (OAuth 2.0 web-server flow with PKCE)"),
        (name = "imports", description = "Start and follow imports, read the history"),
        (name = "document", description = "This document"),
    )
)]
pub(crate) struct ApiDoc;

/// Adds the `host_session` security scheme and the authentication model.
struct HostSession;

impl Modify for HostSession {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "host_session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "session",
                "The host's session; see the description of the API.",
            ))),
        );
        let description = openapi.info.description.get_or_insert_with(String::new);
        description.push_str("\n\n## Authentication\n\n");
        description.push_str(AUTH);
    }
}

/// The document, as [`ImportApi::openapi`](super::ImportApi::openapi)
/// returns it: no `servers`.
pub(crate) fn json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serializes")
    })
}

/// The document as the router serves it: with one relative server, `.`,
/// the router's mount point (a relative server URL resolves against the
/// document's own URL).
fn served() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.servers = Some(vec![Server::new(".")]);
        doc.to_pretty_json()
            .expect("the OpenAPI document serializes")
    })
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "document",
    operation_id = "openapi",
    summary = "This OpenAPI document",
    description = "Needs no session: it is the same for every deployment and holds nothing but \
what the crate's source shows. Its one server, `.`, is the router's mount point.",
    responses(
        (status = 200, description = "The document", content_type = "application/json", body = Object),
    )
)]
pub(super) async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], served())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::super::ROUTES;
    use super::super::views::{JobStatusView, ModeView, ObjectStateView, SeverityView};
    use crate::crm::WriteMode;
    use crate::jobs::Severity;
    use crate::object::SObject;
    use crate::status::{JobStatus, ObjectState};

    fn doc() -> Value {
        serde_json::from_str(super::json()).unwrap()
    }

    /// The router's table and the document's paths, both ways: neither
    /// can gain or lose a route or a method without the other.
    #[test]
    fn the_document_lists_exactly_the_routes_the_router_registers() {
        let routed: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
            .collect();
        assert_eq!(routed.len(), ROUTES.len(), "a route registered twice");
        let doc = doc();
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.insert((method.clone(), path.clone()));
            }
        }
        assert_eq!(documented, routed);
    }

    /// The enums the document declares are the crate's, as the views
    /// serialize them (the `From` impls match exhaustively, so a new
    /// variant does not compile until its view has one).
    #[test]
    fn the_documented_enums_are_the_serialized_ones() {
        let doc = doc();
        let listed = |name: &str| -> Vec<Value> {
            doc["components"]["schemas"][name]["enum"]
                .as_array()
                .unwrap_or_else(|| panic!("{name} is not an enum"))
                .clone()
        };

        let statuses = listed("JobStatus");
        for value in &statuses {
            let status = JobStatus::from_code(value.as_str().unwrap()).unwrap();
            assert_eq!(
                serde_json::to_value(JobStatusView::from(status)).unwrap(),
                *value
            );
            assert_eq!(serde_json::to_value(status).unwrap(), *value);
        }
        assert_eq!(statuses.len(), 6);

        let states = [
            ObjectState::Pending,
            ObjectState::Importing,
            ObjectState::Done,
            ObjectState::Failed,
            ObjectState::Unavailable,
            ObjectState::Cancelled,
        ];
        let expected: Vec<Value> = states
            .iter()
            .map(|s| serde_json::to_value(s).unwrap())
            .collect();
        let views: Vec<Value> = states
            .into_iter()
            .map(|s| serde_json::to_value(ObjectStateView::from(s)).unwrap())
            .collect();
        assert_eq!(listed("ObjectState"), expected);
        assert_eq!(views, expected);

        let modes = [
            WriteMode::SkipExisting,
            WriteMode::Update,
            WriteMode::UpdateChanged,
        ];
        let expected: Vec<Value> = modes
            .iter()
            .map(|m| serde_json::to_value(m).unwrap())
            .collect();
        assert_eq!(listed("Mode"), expected);
        for mode in modes {
            assert_eq!(WriteMode::from(ModeView::from(mode)), mode);
        }

        let severities = [Severity::Error, Severity::Warning];
        let expected: Vec<Value> = severities
            .iter()
            .map(|s| serde_json::to_value(s).unwrap())
            .collect();
        let views: Vec<Value> = severities
            .into_iter()
            .map(|s| serde_json::to_value(SeverityView::from(s)).unwrap())
            .collect();
        assert_eq!(listed("Severity"), expected);
        assert_eq!(views, expected);

        let selectable: Vec<Value> = SObject::SELECTABLE
            .iter()
            .map(|o| Value::from(o.as_str()))
            .collect();
        assert_eq!(listed("ObjectTypeName"), selectable);
    }
}
