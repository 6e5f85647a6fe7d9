//! The fake org's connected app, as a host would configure it.

use salesforce_import::http::{HostPolicy, LoginHost, SalesforceOAuth, SalesforceOAuthBuilder};
use salesforce_import_fake::FakeSalesforce;

/// A [`SalesforceOAuth`] builder for `fake`: its client id, secret and
/// callback URL, its login host, and a host policy that allows loopback,
/// where the fake listens.
pub fn oauth_builder(fake: &FakeSalesforce) -> SalesforceOAuthBuilder {
    SalesforceOAuth::builder(
        fake.client_id(),
        fake.client_secret().clone(),
        fake.redirect_uri(),
    )
    .login_host(LoginHost::url(fake.login_url()))
    .host_policy(HostPolicy::salesforce().allow_loopback())
}
