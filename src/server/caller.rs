//! Who is calling: the host says, through [`Authenticate`].

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::Shared;
use super::error::ApiError;
use crate::id::TenantId;

/// The person behind a request, as the host knows them.
///
/// The crate owns no users: the host's [`Authenticate`] builds a `Caller`
/// from its own session (cookie, bearer token, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Caller {
    /// The host's user id or email; recorded as who connected and who
    /// started an import.
    pub user: String,
    /// The tenant (organization) they act for. Every read and write of the
    /// request is scoped to it.
    pub tenant: TenantId,
    /// Whether they may connect, disconnect, start and cancel imports.
    /// Everyone else may only look.
    pub admin: bool,
}

impl Caller {
    /// A caller.
    ///
    /// ```
    /// use salesforce_import::server::Caller;
    /// use salesforce_import::TenantId;
    /// let ada = Caller::new("ada@example.com", TenantId::new("acme"), true);
    /// assert!(ada.admin);
    /// ```
    pub fn new(user: impl Into<String>, tenant: TenantId, admin: bool) -> Caller {
        Caller {
            user: user.into(),
            tenant,
            admin,
        }
    }

    pub(super) fn require_admin(&self) -> Result<(), ApiError> {
        if self.admin {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "only an administrator can do this; ask one of your organization's admins",
            ))
        }
    }
}

/// How the router learns who is calling. The host implements it over its
/// own sessions.
///
/// Return `None` for a request without a valid session: the router answers
/// 401 without touching anything.
///
/// ```
/// use async_trait::async_trait;
/// use axum::http::request::Parts;
/// use salesforce_import::server::{Authenticate, Caller};
/// use salesforce_import::TenantId;
///
/// /// Trusts an `X-User` header set by the host's auth proxy.
/// #[derive(Debug)]
/// struct ProxyAuth;
///
/// #[async_trait]
/// impl Authenticate for ProxyAuth {
///     async fn authenticate(&self, parts: &Parts) -> Option<Caller> {
///         let user = parts.headers.get("x-user")?.to_str().ok()?;
///         let org = parts.headers.get("x-org")?.to_str().ok()?;
///         let admin = parts.headers.get("x-role").is_some_and(|r| r == "admin");
///         Some(Caller::new(user, TenantId::new(org), admin))
///     }
/// }
/// ```
#[async_trait]
pub trait Authenticate: fmt::Debug + Send + Sync + 'static {
    /// The caller of this request, or `None` when it has no valid session.
    async fn authenticate(&self, parts: &Parts) -> Option<Caller>;
}

impl FromRequestParts<Arc<Shared>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<Shared>,
    ) -> Result<Caller, ApiError> {
        state
            .auth
            .authenticate(parts)
            .await
            .ok_or_else(|| ApiError::unauthorized("sign in first"))
    }
}
