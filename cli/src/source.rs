//! Where the records come from: the fake org over HTTP, files, a Data
//! Export, or a real org from environment credentials.

use std::path::Path;
use std::sync::Arc;

use salesforce_import::http::{HostPolicy, LoginHost, RestSource, SalesforceOAuth};
use salesforce_import::source::ExportSource;
use salesforce_import::{
    Connection, Error, FileSource, InMemoryTokenVault, Result, SObject, SalesforceSource, TenantId,
    TokenVault,
};
use salesforce_import_fake::{FakeOrg, FakeSalesforce};
use secrecy::SecretString;

use crate::args::SourceKind;

/// The source to import from, and what keeps it running.
pub(crate) struct Source {
    pub source: Arc<dyn SalesforceSource>,
    /// The vault holding the tenant's connection, when the source needs one.
    pub vault: Option<Arc<dyn TokenVault>>,
    /// What is imported, for the heading: "the bundled sample org (473
    /// records) from its files".
    pub description: String,
    /// The fake org's server, stopped when dropped.
    _server: Option<FakeSalesforce>,
}

impl Source {
    /// `allow_loopback`: `--allow-loopback` (only `--source salesforce`
    /// reads it; the fake always listens on loopback).
    pub(crate) async fn open(
        kind: &SourceKind,
        allow_loopback: bool,
        tenant: &TenantId,
    ) -> Result<Source> {
        match kind {
            SourceKind::Fake => fake(tenant).await,
            SourceKind::Files(dir) => files(dir.as_deref()),
            SourceKind::Export(path) => export(path),
            SourceKind::Salesforce => {
                let policy = if allow_loopback {
                    eprintln!(
                        "warning: --allow-loopback: loopback http:// URLs are accepted \
                         (for local emulators and test doubles only)"
                    );
                    HostPolicy::salesforce().allow_loopback()
                } else {
                    HostPolicy::salesforce()
                };
                salesforce(tenant, policy, |name| std::env::var(name).ok()).await
            }
        }
    }

    fn new(source: Arc<dyn SalesforceSource>, description: String) -> Source {
        Source {
            source,
            vault: None,
            description,
            _server: None,
        }
    }
}

fn files(dir: Option<&Path>) -> Result<Source> {
    let files = match dir {
        None => FileSource::sample_org(),
        Some(dir) => FileSource::from_dir(dir)?,
    };
    for warning in files.warnings() {
        eprintln!("warning: {warning}");
    }
    let records: usize = SObject::STANDARD.iter().map(|o| files.count(o)).sum();
    let description = match dir {
        None => format!("the bundled sample org ({records} records) from its files"),
        Some(dir) => format!("{records} records from the files in {}", dir.display()),
    };
    Ok(Source::new(Arc::new(files), description))
}

/// A Salesforce Data Export: the zip, its folder or one CSV. Files are read
/// when their object's turn comes; objects without a file are skipped.
fn export(path: &Path) -> Result<Source> {
    let export = ExportSource::open(path)?;
    let objects: Vec<String> = export
        .objects()
        .iter()
        .map(|o| format!("{o}.csv"))
        .collect();
    let description = format!(
        "the Data Export at {} ({} CSV files: {})",
        path.display(),
        objects.len(),
        objects.join(", ")
    );
    Ok(Source::new(Arc::new(export), description))
}

/// The sample org served by the test kit's fake Salesforce on loopback,
/// connected through the OAuth flow and read through the REST source.
async fn fake(tenant: &TenantId) -> Result<Source> {
    let fake = FakeSalesforce::builder()
        .org(FakeOrg::sample())
        .min_batch_size(1)
        .start()
        .await?;
    let vault = Arc::new(InMemoryTokenVault::new());
    // The fake's connected app; it listens on 127.0.0.1, allowed here only.
    let oauth = Arc::new(fake_oauth(&fake).build(vault.clone())?);

    // Connect as an admin would: open the authorization URL (the fake
    // approves at once) and hand the callback's code and state back.
    let user = "sample@example.com";
    let auth = oauth.authorize(tenant, user).await?;
    let approval = fake.approve(&auth.url).await?;
    let status = oauth
        .complete(tenant, user, &approval.code, &approval.state)
        .await?;
    println!(
        "Connected to the fake org at {} (OAuth web-server flow with PKCE).",
        status.instance_url.unwrap_or_default()
    );

    let rest = RestSource::builder(oauth)
        .api_version(fake.api_version())
        .build()?;
    let records: u64 = SObject::STANDARD.iter().map(|o| fake.org().count(o)).sum();
    Ok(Source {
        source: Arc::new(rest),
        vault: Some(vault),
        description: format!(
            "the bundled sample org ({records} records) over HTTP from a fake Salesforce at {}",
            fake.url()
        ),
        _server: Some(fake),
    })
}

/// A real org, from credentials in the environment (`env` looks them up).
/// The instance and login URLs must pass `policy`: by default
/// ([`HostPolicy::salesforce`]) https on Salesforce's domains, no loopback;
/// with `--allow-loopback`, loopback too (a local emulator or test double).
async fn salesforce(
    tenant: &TenantId,
    policy: HostPolicy,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Source> {
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let (instance, access) = match (var("SF_INSTANCE_URL"), var("SF_ACCESS_TOKEN")) {
        (Some(i), Some(a)) => (i, SecretString::from(a)),
        (i, a) => {
            let missing: Vec<&str> = [
                ("SF_INSTANCE_URL", i.is_none()),
                ("SF_ACCESS_TOKEN", a.is_none()),
            ]
            .into_iter()
            .filter_map(|(name, missing)| missing.then_some(name))
            .collect();
            return Err(Error::config(format!(
                "--source salesforce reads the org's credentials from the environment; \
                 missing: {} (e.g. `sf org display --json` shows instanceUrl and accessToken)",
                missing.join(", ")
            )));
        }
    };
    let refresh = var("SF_REFRESH_TOKEN").map(SecretString::from);
    let client_id = var("SF_CLIENT_ID");
    if refresh.is_some() && client_id.is_none() {
        return Err(Error::config(
            "SF_REFRESH_TOKEN is set: the refresh also needs SF_CLIENT_ID (the connected app's consumer key)",
        ));
    }
    let instance = check_host(policy, "SF_INSTANCE_URL", &instance)?;

    let vault = Arc::new(InMemoryTokenVault::new());
    vault
        .put(
            tenant,
            &Connection::new(
                instance.clone(),
                access,
                refresh,
                "import example",
                chrono::Utc::now(),
            ),
        )
        .await?;
    let mut oauth = SalesforceOAuth::builder(
        client_id.unwrap_or_else(|| "unused: no refresh token".to_owned()),
        SecretString::from(var("SF_CLIENT_SECRET").unwrap_or_default()),
        // Never visited: the connection is already in the vault.
        "http://localhost:1717/OauthRedirect",
    )
    .host_policy(policy);
    if let Some(login) = var("SF_LOGIN_URL") {
        check_host(policy, "SF_LOGIN_URL", &login)?;
        oauth = oauth.login_host(LoginHost::url(login));
    }
    let rest = RestSource::builder(Arc::new(oauth.build(vault.clone())?)).build()?;
    Ok(Source {
        source: Arc::new(rest),
        vault: Some(vault),
        description: format!("the Salesforce org at {instance}"),
        _server: None,
    })
}

/// `url` (from the environment variable `var`) checked against `policy`.
/// A loopback URL refused only because loopback is off says so, and names
/// the flag that accepts it.
fn check_host(policy: HostPolicy, var: &str, url: &str) -> Result<String> {
    policy.check(url).map_err(|e| {
        let loopback = HostPolicy::salesforce().allow_loopback().check(url).is_ok();
        if loopback && !policy.allows_loopback() {
            Error::config(format!(
                "{var}: {e}; a loopback (local) address is refused by default: for a \
                 local Salesforce emulator or test double, pass --allow-loopback \
                 (for testing only)"
            ))
        } else {
            e
        }
    })
}

/// The fake's connected app: its client id, secret and callback URL, its
/// login host, and a host policy that allows loopback, where it listens.
fn fake_oauth(fake: &FakeSalesforce) -> salesforce_import::http::SalesforceOAuthBuilder {
    SalesforceOAuth::builder(
        fake.client_id(),
        fake.client_secret().clone(),
        fake.redirect_uri(),
    )
    .login_host(LoginHost::url(fake.login_url()))
    .host_policy(HostPolicy::salesforce().allow_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    async fn error(vars: &[(&str, &str)]) -> String {
        match salesforce(&TenantId::new("t"), HostPolicy::salesforce(), env(vars)).await {
            Ok(_) => panic!("{vars:?} opened a source"),
            Err(e) => e.to_string(),
        }
    }

    #[tokio::test]
    async fn missing_credentials_are_named_and_tokens_never_shown() {
        let e = error(&[]).await;
        assert!(
            e.contains("missing: SF_INSTANCE_URL, SF_ACCESS_TOKEN"),
            "{e}"
        );
        let e = error(&[("SF_INSTANCE_URL", "https://acme.my.salesforce.com")]).await;
        assert!(
            e.contains("missing: SF_ACCESS_TOKEN") && !e.contains("SF_INSTANCE_URL"),
            "{e}"
        );
        let e = error(&[
            ("SF_ACCESS_TOKEN", "00Dxx!secret-token"),
            ("SF_INSTANCE_URL", " "),
        ])
        .await;
        assert!(
            e.contains("missing: SF_INSTANCE_URL") && !e.contains("secret-token"),
            "{e}"
        );
        let e = error(&[
            ("SF_INSTANCE_URL", "https://acme.my.salesforce.com"),
            ("SF_ACCESS_TOKEN", "00Dxx!secret-token"),
            ("SF_REFRESH_TOKEN", "5Aep-refresh"),
        ])
        .await;
        assert!(e.contains("SF_CLIENT_ID") && !e.contains("refresh-"), "{e}");
    }

    #[tokio::test]
    async fn the_instance_must_be_a_salesforce_host() {
        for url in ["http://127.0.0.1:8080", "https://evil.example"] {
            let vars = [
                ("SF_INSTANCE_URL", url),
                ("SF_ACCESS_TOKEN", "00Dxx!secret-token"),
            ];
            let e = error(&vars).await;
            assert!(e.contains(url) && !e.contains("secret-token"), "{e}");
        }
    }

    #[tokio::test]
    async fn loopback_is_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:8080",
            "http://localhost:9",
            "https://[::1]:443",
        ] {
            let vars = [
                ("SF_INSTANCE_URL", url),
                ("SF_ACCESS_TOKEN", "00Dxx!secret-token"),
            ];
            let e = error(&vars).await;
            assert!(
                e.contains("SF_INSTANCE_URL")
                    && e.contains("loopback")
                    && e.contains("--allow-loopback")
                    && !e.contains("secret-token"),
                "{e}"
            );
            let source = salesforce(
                &TenantId::new("t"),
                HostPolicy::salesforce().allow_loopback(),
                env(&vars),
            )
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
            assert!(source.description.contains("the Salesforce org at"));
        }
        // A login URL on loopback is named too.
        let e = error(&[
            ("SF_INSTANCE_URL", "https://acme.my.salesforce.com"),
            ("SF_ACCESS_TOKEN", "00Dxx!secret-token"),
            ("SF_LOGIN_URL", "http://127.0.0.1:1"),
        ])
        .await;
        assert!(
            e.contains("SF_LOGIN_URL") && e.contains("--allow-loopback"),
            "{e}"
        );
        // Allowing loopback allows nothing else.
        let e = match salesforce(
            &TenantId::new("t"),
            HostPolicy::salesforce().allow_loopback(),
            env(&[
                ("SF_INSTANCE_URL", "http://10.0.0.1:8080"),
                ("SF_ACCESS_TOKEN", "00Dxx!secret-token"),
            ]),
        )
        .await
        {
            Ok(_) => panic!("a private address opened a source"),
            Err(e) => e.to_string(),
        };
        assert!(
            e.contains("http://10.0.0.1:8080") && !e.contains("--allow-loopback"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_salesforce_host_opens_without_a_request() {
        let source = salesforce(
            &TenantId::new("t"),
            HostPolicy::salesforce(),
            env(&[
                ("SF_INSTANCE_URL", "https://acme.my.salesforce.com/"),
                ("SF_ACCESS_TOKEN", "00Dxx!secret-token"),
            ]),
        )
        .await
        .unwrap();
        assert_eq!(
            source.description,
            "the Salesforce org at https://acme.my.salesforce.com"
        );
        let stored = source
            .vault
            .unwrap()
            .get(&TenantId::new("t"))
            .await
            .unwrap();
        assert!(stored.is_some_and(|c| c.active));
    }
}
