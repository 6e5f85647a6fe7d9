//! The OAuth 2.0 web-server flow with PKCE: authorize, callback (code
//! exchange), refresh, revoke.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope,
    StandardRevocableToken, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};

use super::allow::{HostPolicy, LoginHost};
use super::pending::{InMemoryPendingAuthorizations, PendingAuthorization, PendingAuthorizations};
use super::token::{OAuthHttp, SalesforceTokenResponse, is_invalid_grant, token_error};
use crate::error::{Error, OAuthStep, Result};
use crate::id::TenantId;
use crate::retry::{Clock, system_clock};
use crate::vault::{Connection, ConnectionStatus, TokenVault};

/// An authorization URL to send the user's browser to.
///
/// `Debug` leaves out the query (it carries the single-use `state`).
#[derive(Clone)]
#[non_exhaustive]
pub struct Authorization {
    /// The URL on the login host, with client id, redirect URL, scopes,
    /// PKCE challenge and `state`.
    pub url: String,
    /// When the `state` stops being accepted.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let base = self.url.split('?').next().unwrap_or_default();
        f.debug_struct("Authorization")
            .field("url", &format_args!("{base}?[REDACTED]"))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// What [`SalesforceOAuth::disconnect`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Disconnected {
    /// Whether the tenant had an active connection (now deactivated).
    pub was_connected: bool,
    /// Whether Salesforce confirmed the revocation. `false` when it could
    /// not be reached or refused: the local connection is deactivated all
    /// the same.
    pub revoked: bool,
    /// Whether the stored tokens could not be decrypted (the encryption key
    /// changed): the connection was deactivated without trying to revoke
    /// them.
    pub token_unreadable: bool,
}

/// Configures [`SalesforceOAuth`].
pub struct SalesforceOAuthBuilder {
    client_id: String,
    client_secret: SecretString,
    redirect_url: String,
    login: LoginHost,
    scopes: Vec<String>,
    state_ttl: Duration,
    policy: HostPolicy,
    pending: Arc<dyn PendingAuthorizations>,
    timeout: Duration,
    clock: Clock,
}

impl fmt::Debug for SalesforceOAuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalesforceOAuthBuilder")
            .field("client_id", &self.client_id)
            .field("login", &self.login)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl SalesforceOAuthBuilder {
    /// The default login host (default [`LoginHost::production`]).
    pub fn login_host(mut self, login: LoginHost) -> Self {
        self.login = login;
        self
    }

    /// The scopes asked for (default `api refresh_token`).
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// How long an authorization waits for its callback (default 10 minutes).
    pub fn state_ttl(mut self, ttl: Duration) -> Self {
        self.state_ttl = ttl;
        self
    }

    /// Which hosts may receive tokens (default [`HostPolicy::salesforce`]).
    pub fn host_policy(mut self, policy: HostPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Where pending authorizations wait (default: in this process's memory).
    ///
    /// A host with several application servers behind a load balancer
    /// shares one store between them, such as `postgres::PgPendingAuthorizations`
    /// (features `postgres` and `http`): the callback may reach another
    /// server than the one that started the flow.
    pub fn pending(mut self, pending: Arc<dyn PendingAuthorizations>) -> Self {
        self.pending = pending;
        self
    }

    /// The timeout of each HTTP request, OAuth and API (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The clock for state expiry and connection times (default: the system clock).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the configuration and builds the client, storing connections in `vault`.
    pub fn build(self, vault: Arc<dyn TokenVault>) -> Result<SalesforceOAuth> {
        if self.client_id.trim().is_empty() {
            return Err(Error::config("the OAuth client id is empty"));
        }
        let redirect = RedirectUrl::new(self.redirect_url.clone())
            .map_err(|_| Error::config("the OAuth redirect URL is not a URL"))?;
        self.policy.check(self.login.as_str())?;
        let state_ttl = chrono::Duration::from_std(self.state_ttl)
            .ok()
            .filter(|d| *d > chrono::Duration::zero())
            .ok_or_else(|| Error::config("the state lifetime must be positive"))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| Error::config(format!("building the HTTP client: {}", e.without_url())))?;
        Ok(SalesforceOAuth {
            client_id: self.client_id,
            client_secret: self.client_secret,
            redirect,
            login: self.login,
            scopes: self.scopes,
            state_ttl,
            policy: self.policy,
            pending: self.pending,
            vault,
            http,
            clock: self.clock,
            refreshing: Mutex::default(),
        })
    }
}

type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    SalesforceTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// A connected app's OAuth 2.0 web-server flow against Salesforce, with
/// PKCE (S256) and a random, single-use, expiring `state` bound to the
/// tenant and the user who asked; connections are kept in a
/// [`TokenVault`].
///
/// ```no_run
/// # async fn demo(vault: std::sync::Arc<dyn salesforce_import::TokenVault>) -> salesforce_import::Result<()> {
/// use secrecy::SecretString;
/// use salesforce_import::http::{LoginHost, SalesforceOAuth};
/// use salesforce_import::TenantId;
///
/// let oauth = SalesforceOAuth::builder(
///     "3MVG9...consumer-key",
///     SecretString::from(std::env::var("SF_CLIENT_SECRET").unwrap()),
///     "https://crm.example.com/salesforce/callback",
/// )
/// .build(vault)?;
/// let tenant = TenantId::new("acme");
/// // 1. "Connect Salesforce": send the admin's browser here.
/// let auth = oauth.authorize(&tenant, "ada@example.com").await?;
/// println!("redirect to {}", auth.url);
/// // 2. The callback handler, with the `code` and `state` query parameters:
/// # let (code, state) = ("", "");
/// let status = oauth.complete(&tenant, "ada@example.com", code, state).await?;
/// assert!(status.connected);
/// // 3. "Disconnect": revokes at Salesforce (best effort), deactivates here.
/// oauth.disconnect(&tenant).await?;
/// # Ok(()) }
/// ```
pub struct SalesforceOAuth {
    client_id: String,
    client_secret: SecretString,
    redirect: RedirectUrl,
    login: LoginHost,
    scopes: Vec<String>,
    state_ttl: chrono::Duration,
    policy: HostPolicy,
    pending: Arc<dyn PendingAuthorizations>,
    vault: Arc<dyn TokenVault>,
    http: reqwest::Client,
    clock: Clock,
    /// One lock per tenant, so that concurrent requests whose token
    /// expired share one refresh.
    refreshing: Mutex<HashMap<TenantId, Arc<tokio::sync::Mutex<()>>>>,
}

impl fmt::Debug for SalesforceOAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalesforceOAuth")
            .field("client_id", &self.client_id)
            .field("login", &self.login)
            .field("redirect", &self.redirect.as_str())
            .field("policy", &self.policy)
            .field("pending", &self.pending)
            .field("vault", &self.vault)
            .finish_non_exhaustive()
    }
}

impl SalesforceOAuth {
    /// Starts configuring the flow for a connected app: its consumer key
    /// and secret, and the callback URL registered with it.
    pub fn builder(
        client_id: impl Into<String>,
        client_secret: SecretString,
        redirect_url: impl Into<String>,
    ) -> SalesforceOAuthBuilder {
        SalesforceOAuthBuilder {
            client_id: client_id.into(),
            client_secret,
            redirect_url: redirect_url.into(),
            login: LoginHost::production(),
            scopes: vec!["api".into(), "refresh_token".into()],
            state_ttl: Duration::from_secs(600),
            policy: HostPolicy::salesforce(),
            pending: Arc::new(InMemoryPendingAuthorizations::new()),
            timeout: Duration::from_secs(60),
            clock: system_clock(),
        }
    }

    /// The host policy every token destination is checked against.
    pub fn host_policy(&self) -> HostPolicy {
        self.policy
    }

    /// The vault connections are kept in.
    pub fn vault(&self) -> &Arc<dyn TokenVault> {
        &self.vault
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn client(&self, login_url: &str) -> Result<OAuthClient> {
        let bad = |_| Error::config("the login host does not make a valid OAuth URL");
        Ok(oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                self.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_type(AuthType::RequestBody)
            .set_auth_uri(
                AuthUrl::new(format!("{login_url}/services/oauth2/authorize")).map_err(bad)?,
            )
            .set_token_uri(
                TokenUrl::new(format!("{login_url}/services/oauth2/token")).map_err(bad)?,
            )
            .set_redirect_uri(self.redirect.clone()))
    }

    /// Starts connecting `tenant` at the default login host: returns the
    /// URL to send `user`'s browser to. Only `user`, for `tenant`, can
    /// complete it, once, before it expires.
    pub async fn authorize(&self, tenant: &TenantId, user: &str) -> Result<Authorization> {
        let login = self.login.clone();
        self.authorize_at(tenant, user, &login).await
    }

    /// [`authorize`](Self::authorize) at another login host (a sandbox or
    /// the org's My Domain).
    pub async fn authorize_at(
        &self,
        tenant: &TenantId,
        user: &str,
        login: &LoginHost,
    ) -> Result<Authorization> {
        let login_url = self.policy.check(login.as_str())?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .client(&login_url)?
            .authorize_url(CsrfToken::new_random)
            .add_scopes(self.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .url();
        let now = (self.clock)();
        let expires_at = now + self.state_ttl;
        let pending = PendingAuthorization::new(
            tenant.clone(),
            user,
            SecretString::from(verifier.into_secret()),
            login_url,
            now,
            expires_at,
        );
        self.pending
            .insert(&SecretString::from(state.into_secret()), pending)
            .await?;
        tracing::info!(tenant = %tenant, login = login.as_str(), "Salesforce authorization started");
        Ok(Authorization {
            url: url.to_string(),
            expires_at,
        })
    }

    /// Completes the flow from the callback's `code` and `state`: checks
    /// that the state is known, unused, unexpired and was issued to this
    /// tenant and user ([`Error::OAuthState`] otherwise), exchanges the
    /// code with the PKCE verifier, checks the `instance_url` against the
    /// allow-list, and stores the connection in the vault.
    pub async fn complete(
        &self,
        tenant: &TenantId,
        user: &str,
        code: &str,
        state: &str,
    ) -> Result<ConnectionStatus> {
        let state = SecretString::from(state.to_owned());
        let Some(pending) = self.pending.take(&state).await? else {
            return Err(Error::OAuthState {
                reason: "unknown or already used",
            });
        };
        let now = (self.clock)();
        if now >= pending.expires_at {
            return Err(Error::OAuthState { reason: "expired" });
        }
        if &pending.tenant != tenant || pending.user != user {
            tracing::warn!(tenant = %tenant, "OAuth state issued to another tenant or user");
            return Err(Error::OAuthState {
                reason: "issued to another tenant or user",
            });
        }
        let login_url = self.policy.check(&pending.login_url)?;
        let tokens = self
            .client(&login_url)?
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(
                pending.verifier.expose_secret().to_owned(),
            ))
            .request_async(&OAuthHttp(self.http.clone()))
            .await
            .map_err(|e| token_error(OAuthStep::CodeExchange, e))?;
        // Before anything is sent to it.
        let instance_url = self.policy.check(&tokens.instance_url)?;
        let mut connection = Connection::new(
            instance_url,
            SecretString::from(tokens.access_token.secret().to_owned()),
            tokens
                .refresh_token
                .as_ref()
                .map(|r| SecretString::from(r.secret().to_owned())),
            user,
            now,
        );
        connection.identity_url = tokens.id.clone();
        self.vault.put(tenant, &connection).await?;
        tracing::info!(
            tenant = %tenant,
            instance = %connection.instance_url,
            issued_at = ?tokens.issued_at(),
            "Salesforce connected"
        );
        Ok(ConnectionStatus::from(Some(&connection)))
    }

    /// The tenant's connection as an admin page shows it (no tokens).
    pub async fn status(&self, tenant: &TenantId) -> Result<ConnectionStatus> {
        Ok(ConnectionStatus::from(
            self.vault.get(tenant).await?.as_ref(),
        ))
    }

    /// The tenant's active connection, its instance URL checked against
    /// the allow-list.
    pub(crate) async fn active_connection(&self, tenant: &TenantId) -> Result<Connection> {
        let mut connection = self
            .vault
            .get(tenant)
            .await?
            .filter(|c| c.active)
            .ok_or_else(|| Error::NotConnected {
                tenant: tenant.clone(),
            })?;
        connection.instance_url = self.policy.check(&connection.instance_url)?;
        Ok(connection)
    }

    /// Refreshes the tenant's access token now and stores it in the vault.
    /// [`Error::SessionExpired`] when Salesforce refuses the refresh token
    /// (revoked, expired) or there is none.
    pub async fn refresh(&self, tenant: &TenantId) -> Result<ConnectionStatus> {
        let connection = self.refresh_after(tenant, None).await?;
        Ok(ConnectionStatus::from(Some(&connection)))
    }

    /// Refreshes the access token unless someone else already replaced
    /// `used` (the token that was refused): concurrent requests whose token
    /// expired wait on one per-tenant lock, and all but the first find the
    /// new token in the vault.
    pub(crate) async fn refresh_after(
        &self,
        tenant: &TenantId,
        used: Option<&SecretString>,
    ) -> Result<Connection> {
        let lock = {
            let mut map = self.refreshing.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(tenant.clone()).or_default().clone()
        };
        let _one_at_a_time = lock.lock().await;
        let mut connection = self.active_connection(tenant).await?;
        if let Some(used) = used
            && connection.access_token.expose_secret() != used.expose_secret()
        {
            tracing::debug!(tenant = %tenant, "token already refreshed by another request");
            return Ok(connection);
        }
        let Some(refresh) = connection.refresh_token.clone() else {
            return Err(Error::SessionExpired);
        };
        let tokens = self
            .client(&connection.instance_url)?
            .exchange_refresh_token(&RefreshToken::new(refresh.expose_secret().to_owned()))
            .request_async(&OAuthHttp(self.http.clone()))
            .await
            .map_err(|e| {
                if is_invalid_grant(&e) {
                    // The refresh token was revoked or expired: the admin
                    // must connect again.
                    Error::SessionExpired
                } else {
                    token_error(OAuthStep::TokenRefresh, e)
                }
            })?;
        connection.instance_url = self.policy.check(&tokens.instance_url)?;
        connection.access_token = SecretString::from(tokens.access_token.secret().to_owned());
        if let Some(new) = &tokens.refresh_token {
            connection.refresh_token = Some(SecretString::from(new.secret().to_owned()));
        }
        if tokens.id.is_some() {
            connection.identity_url = tokens.id.clone();
        }
        connection.refreshed_at = Some((self.clock)());
        self.vault.put(tenant, &connection).await?;
        tracing::info!(tenant = %tenant, "Salesforce access token refreshed");
        Ok(connection)
    }

    /// Disconnects the tenant: revokes the refresh token at Salesforce
    /// (best effort) and deactivates the connection in the vault, even
    /// when Salesforce cannot be reached.
    ///
    /// A connection whose tokens cannot be decrypted (the encryption key
    /// changed: [`Error::TokenDecryption`]) is deactivated without revoking.
    pub async fn disconnect(&self, tenant: &TenantId) -> Result<Disconnected> {
        let stored = match self.vault.get(tenant).await {
            Ok(stored) => stored,
            Err(Error::TokenDecryption) => {
                let was_connected = self.vault.deactivate(tenant).await?;
                tracing::warn!(
                    tenant = %tenant,
                    "the stored tokens cannot be decrypted; deactivated without revoking"
                );
                return Ok(Disconnected {
                    was_connected,
                    revoked: false,
                    token_unreadable: true,
                });
            }
            Err(e) => return Err(e),
        };
        let Some(connection) = stored.filter(|c| c.active) else {
            return Ok(Disconnected {
                was_connected: false,
                revoked: false,
                token_unreadable: false,
            });
        };
        let revoked = match self.revoke(&connection).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(tenant = %tenant, error = %e, "revoking at Salesforce failed; deactivating anyway");
                false
            }
        };
        let was_connected = self.vault.deactivate(tenant).await?;
        tracing::info!(tenant = %tenant, revoked, "Salesforce disconnected");
        Ok(Disconnected {
            was_connected,
            revoked,
            token_unreadable: false,
        })
    }

    /// One form POST to `/services/oauth2/revoke` (oauth2's own revoke
    /// refuses non-https URLs, so it could not reach a loopback fake).
    /// Revoking the refresh token revokes its access tokens too.
    async fn revoke(&self, connection: &Connection) -> Result<()> {
        let instance = self.policy.check(&connection.instance_url)?;
        let token = connection
            .refresh_token
            .as_ref()
            .unwrap_or(&connection.access_token);
        let response = self
            .http
            .post(format!("{instance}/services/oauth2/revoke"))
            .form(&[("token", token.expose_secret())])
            .send()
            .await
            .map_err(|e| Error::Unreachable {
                request: "token revoke".into(),
                problem: "connection failed".into(),
                source: Some(Box::new(e.without_url())),
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(Error::OAuth {
                step: OAuthStep::Revoke,
                message: format!("HTTP {status}").into(),
                source: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::InMemoryTokenVault;

    fn oauth(policy: HostPolicy, login: LoginHost) -> Result<SalesforceOAuth> {
        SalesforceOAuth::builder(
            "client-id-1",
            SecretString::from("planted-client-secret"),
            "https://crm.example.com/callback",
        )
        .login_host(login)
        .host_policy(policy)
        .build(Arc::new(InMemoryTokenVault::new()))
    }

    #[tokio::test]
    async fn authorization_urls_for_each_login_host_carry_pkce_and_state() {
        for (login, host) in [
            (LoginHost::production(), "https://login.salesforce.com/"),
            (LoginHost::sandbox(), "https://test.salesforce.com/"),
            (
                LoginHost::my_domain("acme"),
                "https://acme.my.salesforce.com/",
            ),
            (
                LoginHost::my_domain("acme--uat.sandbox.my.salesforce.com"),
                "https://acme--uat.sandbox.my.salesforce.com/",
            ),
        ] {
            let oauth = oauth(HostPolicy::salesforce(), login).unwrap();
            let auth = oauth.authorize(&TenantId::new("t"), "ada").await.unwrap();
            let url = url::Url::parse(&auth.url).unwrap();
            assert!(auth.url.starts_with(host), "{}", auth.url);
            assert_eq!(url.path(), "/services/oauth2/authorize");
            let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
            assert_eq!(q["response_type"], "code");
            assert_eq!(q["client_id"], "client-id-1");
            assert_eq!(q["code_challenge_method"], "S256");
            assert_eq!(q["redirect_uri"], "https://crm.example.com/callback");
            assert_eq!(q["scope"], "api refresh_token");
            assert!(q["state"].len() >= 16, "state is random, not the tenant");
            assert_ne!(q["state"], "t");
            let debug = format!("{auth:?} {oauth:?}");
            assert!(!debug.contains(&q["state"]), "{debug}");
            assert!(!debug.contains("planted-client-secret"), "{debug}");
        }
    }

    #[test]
    fn a_login_host_off_the_allow_list_is_refused() {
        let err = oauth(
            HostPolicy::salesforce(),
            LoginHost::url("https://login.evil.example"),
        )
        .unwrap_err();
        assert!(matches!(err, Error::HostNotAllowed { .. }), "{err:?}");
        let err = oauth(
            HostPolicy::salesforce(),
            LoginHost::url("http://127.0.0.1:9"),
        )
        .unwrap_err();
        assert!(matches!(err, Error::HostNotAllowed { .. }), "{err:?}");
        assert!(
            oauth(
                HostPolicy::salesforce().allow_loopback(),
                LoginHost::url("http://127.0.0.1:9/")
            )
            .is_ok()
        );
    }
}
