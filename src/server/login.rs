//! Where `POST /connect` sends the admin to log in: production, a sandbox,
//! or the org's My Domain. Every choice is checked against the OAuth
//! flow's [`HostPolicy`](crate::http::HostPolicy) (the allow-list of
//! Salesforce hosts) before a URL is made of it.

use super::error::{ApiError, clip};
use crate::http::LoginHost;

/// The login hosts the words `production` and `sandbox` stand for.
#[derive(Debug, Clone)]
pub(crate) struct LoginChoices {
    pub(crate) production: LoginHost,
    pub(crate) sandbox: LoginHost,
}

impl Default for LoginChoices {
    fn default() -> LoginChoices {
        LoginChoices {
            production: LoginHost::production(),
            sandbox: LoginHost::sandbox(),
        }
    }
}

/// The longest host name DNS allows.
const MAX_HOST: usize = 253;

impl LoginChoices {
    /// The login host an admin chose: `production`, `sandbox` (any case),
    /// or a My Domain as a name (`acme`), a host
    /// (`acme--uat.sandbox.my.salesforce.com`) or that host's `https://`
    /// URL. Anything else is 400; the allow-list is checked where the
    /// host is used.
    pub(crate) fn resolve(&self, choice: &str) -> Result<LoginHost, ApiError> {
        let choice = choice.trim();
        if choice.eq_ignore_ascii_case("production") {
            return Ok(self.production.clone());
        }
        if choice.eq_ignore_ascii_case("sandbox") {
            return Ok(self.sandbox.clone());
        }
        let host = match choice.get(..8) {
            Some(scheme) if scheme.eq_ignore_ascii_case("https://") => &choice[8..],
            _ => choice,
        };
        let host = host.strip_suffix('/').unwrap_or(host);
        let plausible = !host.is_empty()
            && host.len() <= MAX_HOST
            && !host.starts_with(['.', '-'])
            && !host.ends_with(['.', '-'])
            && !host.contains("..")
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !plausible {
            return Err(ApiError::bad_request(format!(
                "not a login host: {:?}; use \"production\", \"sandbox\" or your My Domain \
                 (acme, or acme.my.salesforce.com)",
                clip(choice)
            )));
        }
        Ok(LoginHost::my_domain(&host.to_ascii_lowercase()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_names_hosts_and_urls() {
        let choices = LoginChoices::default();
        let got = |choice: &str| choices.resolve(choice).map(|h| h.as_str().to_owned());
        for (choice, want) in [
            ("production", "https://login.salesforce.com"),
            ("Sandbox", "https://test.salesforce.com"),
            (" acme ", "https://acme.my.salesforce.com"),
            (
                "acme--uat.sandbox.my.salesforce.com",
                "https://acme--uat.sandbox.my.salesforce.com",
            ),
            (
                "HTTPS://Acme.My.Salesforce.com/",
                "https://acme.my.salesforce.com",
            ),
        ] {
            assert_eq!(got(choice).unwrap(), want, "{choice}");
        }
        for bad in [
            "",
            "http://acme.my.salesforce.com",
            "acme.my.salesforce.com/path",
            "acme.my.salesforce.com:8443",
            "user@acme.my.salesforce.com",
            "acme..my.salesforce.com",
            ".acme",
            "acme my",
            &"a".repeat(254),
        ] {
            assert!(got(bad).is_err(), "{bad:?} was taken");
        }
    }

    #[test]
    fn the_words_follow_the_configuration() {
        let choices = LoginChoices {
            production: LoginHost::url("http://127.0.0.1:1"),
            sandbox: LoginHost::url("http://127.0.0.1:2"),
        };
        assert_eq!(
            choices.resolve("sandbox").unwrap().as_str(),
            "http://127.0.0.1:2"
        );
        assert_eq!(
            choices.resolve("PRODUCTION").unwrap().as_str(),
            "http://127.0.0.1:1"
        );
    }
}
