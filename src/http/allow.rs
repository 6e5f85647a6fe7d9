//! Salesforce hosts: the allow-list (no token, code or secret is sent to a
//! host that is not on it) and the login hosts.

use url::{Host, Url};

use crate::error::{Error, Result};

/// Domains Salesforce serves orgs and logins from. `*.my.salesforce.com`
/// (My Domain), `*.sandbox.my.salesforce.com` and `test.salesforce.com`
/// (sandboxes) and the classic `naNN.salesforce.com` pods all fall under
/// `salesforce.com`; `*.force.com` covers Experience Cloud and Visualforce
/// hosts, `*.cloudforce.com` older custom domains.
const SALESFORCE_DOMAINS: [&str; 3] = ["salesforce.com", "force.com", "cloudforce.com"];

/// Which hosts may receive tokens: an instance URL from a token response
/// or a vault, or a login host.
///
/// By default only `https` URLs on Salesforce's own domains
/// (`*.salesforce.com`, `*.force.com`, `*.cloudforce.com`, so My Domain,
/// sandbox and classic pod hosts), on the default port, with no user,
/// path, query or fragment. Loopback (`127.0.0.1`, `::1`, `localhost`,
/// over `http` or `https`, any port) is allowed only when the host opts in
/// with [`allow_loopback`](HostPolicy::allow_loopback), for tests and
/// examples against a local fake org.
///
/// ```
/// use salesforce_import::http::HostPolicy;
/// let policy = HostPolicy::salesforce();
/// assert!(policy.check("https://acme.my.salesforce.com").is_ok());
/// assert!(policy.check("https://acme--dev.sandbox.my.salesforce.com/").is_ok());
/// assert!(policy.check("https://evil.example/").is_err());
/// assert!(policy.check("https://salesforce.com.evil.example").is_err());
/// assert!(policy.check("http://acme.my.salesforce.com").is_err());
/// assert!(policy.check("http://127.0.0.1:8080").is_err());
/// assert!(policy.allow_loopback().check("http://127.0.0.1:8080").is_ok());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostPolicy {
    loopback: bool,
}

impl HostPolicy {
    /// Salesforce's own domains over https only (the default).
    pub fn salesforce() -> HostPolicy {
        HostPolicy::default()
    }

    /// Also allows loopback hosts, over http or https, on any port: for a
    /// fake org in tests and examples. Never in production.
    pub fn allow_loopback(mut self) -> HostPolicy {
        self.loopback = true;
        self
    }

    /// Whether loopback hosts are allowed.
    pub fn allows_loopback(&self) -> bool {
        self.loopback
    }

    /// Checks `url` and returns it as an origin (`scheme://host[:port]`,
    /// no trailing slash), or [`Error::HostNotAllowed`].
    pub fn check(&self, url: &str) -> Result<String> {
        let refuse = |reason| Error::HostNotAllowed {
            url: url.chars().take(200).collect(),
            reason,
        };
        let parsed = Url::parse(url).map_err(|_| refuse("not a URL"))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(refuse("a URL with user information"));
        }
        if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
            return Err(refuse("a host URL has no path or query"));
        }
        if parsed.fragment().is_some() {
            return Err(refuse("a host URL has no fragment"));
        }
        let host = parsed.host().ok_or_else(|| refuse("no host"))?;
        if self.loopback && is_loopback(&host) {
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(refuse("only http or https"));
            }
            return Ok(origin(&parsed));
        }
        if parsed.scheme() != "https" {
            return Err(refuse("only https is allowed"));
        }
        if parsed.port().is_some() {
            return Err(refuse("only the default https port is allowed"));
        }
        let Host::Domain(domain) = host else {
            return Err(refuse("an IP address is not a Salesforce host"));
        };
        let on_salesforce = SALESFORCE_DOMAINS.iter().any(|d| {
            domain
                .strip_suffix(d)
                .and_then(|rest| rest.strip_suffix('.'))
                .is_some_and(|sub| !sub.is_empty() && !sub.ends_with('.'))
        });
        if !on_salesforce {
            return Err(refuse(
                "not on Salesforce's domains (*.salesforce.com, *.force.com, *.cloudforce.com)",
            ));
        }
        Ok(origin(&parsed))
    }
}

/// Where users log in: production, sandbox, or the org's My Domain.
///
/// ```
/// use salesforce_import::http::LoginHost;
/// assert_eq!(LoginHost::production().as_str(), "https://login.salesforce.com");
/// assert_eq!(LoginHost::sandbox().as_str(), "https://test.salesforce.com");
/// assert_eq!(LoginHost::my_domain("acme").as_str(), "https://acme.my.salesforce.com");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginHost(String);

impl LoginHost {
    /// `https://login.salesforce.com` (the default).
    pub fn production() -> LoginHost {
        LoginHost("https://login.salesforce.com".into())
    }

    /// `https://test.salesforce.com`, for sandboxes.
    pub fn sandbox() -> LoginHost {
        LoginHost("https://test.salesforce.com".into())
    }

    /// The org's My Domain: a name (`acme` gives
    /// `https://acme.my.salesforce.com`) or a full host
    /// (`acme--uat.sandbox.my.salesforce.com`).
    pub fn my_domain(domain: &str) -> LoginHost {
        let domain = domain.trim().trim_end_matches('/');
        let domain = domain.strip_prefix("https://").unwrap_or(domain);
        if domain.contains('.') {
            LoginHost(format!("https://{domain}"))
        } else {
            LoginHost(format!("https://{domain}.my.salesforce.com"))
        }
    }

    /// Any URL: checked against the [`HostPolicy`] before use (a loopback
    /// fake org needs [`HostPolicy::allow_loopback`]).
    pub fn url(url: impl Into<String>) -> LoginHost {
        LoginHost(url.into().trim_end_matches('/').to_owned())
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => *d == "localhost",
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salesforce_hosts_pass() {
        let p = HostPolicy::salesforce();
        for ok in [
            "https://login.salesforce.com",
            "https://test.salesforce.com/",
            "https://na15.salesforce.com",
            "https://acme.my.salesforce.com",
            "https://acme--uat.sandbox.my.salesforce.com",
            "https://acme.lightning.force.com",
            "https://acme.cloudforce.com",
            "https://ACME.My.Salesforce.com",
        ] {
            let got = p.check(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(!got.ends_with('/'), "{ok} -> {got}");
            assert_eq!(got, got.to_lowercase(), "{ok}");
        }
    }

    #[test]
    fn everything_else_is_refused() {
        let p = HostPolicy::salesforce();
        for bad in [
            "",
            "acme.my.salesforce.com",
            "http://acme.my.salesforce.com",
            "https://salesforce.com",
            "https://evilsalesforce.com",
            "https://salesforce.com.evil.example",
            "https://acme.my.salesforce.com.evil.example",
            "https://acme.my.salesforce.com:8443",
            "https://user:pw@acme.my.salesforce.com",
            "https://acme.my.salesforce.com/services/data",
            "https://acme.my.salesforce.com/?x=1",
            "https://acme.my.salesforce.com/#x",
            "https://13.108.0.1",
            "https://127.0.0.1",
            "http://localhost:3000",
            "ftp://acme.my.salesforce.com",
            "https://acme..salesforce.com",
        ] {
            let err = p.check(bad).expect_err(bad);
            assert!(
                matches!(err, Error::HostNotAllowed { .. }),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn loopback_only_when_opted_in() {
        let p = HostPolicy::salesforce().allow_loopback();
        assert_eq!(
            p.check("http://127.0.0.1:40123/").unwrap(),
            "http://127.0.0.1:40123"
        );
        assert!(p.check("http://[::1]:9").is_ok());
        assert!(p.check("http://localhost:9").is_ok());
        assert!(p.check("http://10.0.0.1:9").is_err());
        assert!(p.check("https://acme.my.salesforce.com").is_ok());
        assert!(p.check("http://acme.my.salesforce.com").is_err());
    }
}
