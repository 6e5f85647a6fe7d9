//! The fake Salesforce's OAuth endpoints over loopback: authorize, code
//! exchange with PKCE, refresh, revoke, and their errors.

use std::time::Duration;

use oauth2::{PkceCodeChallenge, PkceCodeVerifier};
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use salesforce_import_fake::FakeSalesforce;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

mod support;
use support::*;

struct Flow<'a> {
    fake: &'a FakeSalesforce,
    http: reqwest::Client,
}

impl<'a> Flow<'a> {
    fn new(fake: &'a FakeSalesforce) -> Flow<'a> {
        let http = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap();
        Flow { fake, http }
    }

    /// Calls authorize; returns the status and the Location header.
    async fn authorize(&self, params: &[(&str, &str)]) -> (StatusCode, Option<url::Url>) {
        let resp = self
            .http
            .get(format!(
                "{}/services/oauth2/authorize",
                self.fake.login_url()
            ))
            .query(params)
            .send()
            .await
            .unwrap();
        let location = resp
            .headers()
            .get("location")
            .map(|l| url::Url::parse(l.to_str().unwrap()).unwrap());
        (resp.status(), location)
    }

    /// A code for this challenge, with state "s".
    async fn code(&self, challenge: &PkceCodeChallenge) -> String {
        let (status, location) = self
            .authorize(&[
                ("response_type", "code"),
                ("client_id", self.fake.client_id()),
                ("redirect_uri", self.fake.redirect_uri()),
                ("state", "s"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ])
            .await;
        assert_eq!(status, StatusCode::FOUND);
        param(&location.unwrap(), "code").unwrap()
    }

    async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}/services/oauth2/token", self.fake.login_url()))
            .form(form)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.json().await.unwrap())
    }

    async fn exchange(&self, code: &str, verifier: Option<&str>) -> (StatusCode, Value) {
        let secret = self.fake.client_secret().expose_secret().to_owned();
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", self.fake.client_id()),
            ("client_secret", &secret),
            ("redirect_uri", self.fake.redirect_uri()),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        self.token(&form).await
    }

    async fn refresh(&self, refresh: &str) -> (StatusCode, Value) {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", self.fake.client_id()),
            ("client_secret", self.fake.client_secret().expose_secret()),
        ])
        .await
    }

    async fn revoke(&self, token: &str) -> (StatusCode, String) {
        let resp = self
            .http
            .post(format!("{}/services/oauth2/revoke", self.fake.login_url()))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    async fn limits_status(&self, access: &str) -> StatusCode {
        Api::with_token(self.fake, SecretString::from(access.to_owned()))
            .get("limits")
            .await
            .0
    }
}

fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn assert_oauth_error(got: &(StatusCode, Value), error: &str, description: &str) {
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    assert_eq!(
        keys(&got.1),
        keys(&fixture("error-oauth-invalid-grant.json"))
    );
    assert_eq!(got.1["error"], error, "{}", got.1);
    assert_eq!(got.1["error_description"], description, "{}", got.1);
}

#[tokio::test]
async fn authorization_code_flow_with_pkce() {
    let fake = start_default().await;
    let flow = Flow::new(&fake);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state = "a b&c=d/é";
    let (status, location) = flow
        .authorize(&[
            ("response_type", "code"),
            ("client_id", fake.client_id()),
            ("redirect_uri", fake.redirect_uri()),
            ("state", state),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert_eq!(status, StatusCode::FOUND);
    let location = location.unwrap();
    assert!(location.as_str().starts_with(fake.redirect_uri()));
    assert_eq!(
        param(&location, "state").as_deref(),
        Some(state),
        "state echoed verbatim"
    );
    let code = param(&location, "code").unwrap();
    assert!(
        code.ends_with("=="),
        "codes need URL-decoding, as real ones do"
    );

    let (status, body) = flow.exchange(&code, Some(verifier.secret())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut want = keys(&fixture("token-authorization-code.json"));
    want.remove("id_token"); // only with the openid scope
    assert_eq!(keys(&body), want);
    assert_eq!(body["instance_url"], fake.instance_url());
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["issued_at"].as_str().unwrap().parse::<u64>().is_ok());
    assert!(
        body.get("expires_in").is_none(),
        "Salesforce sends no expires_in"
    );
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(flow.limits_status(access).await, StatusCode::OK);
    assert_eq!(fake.code_exchanges(), 1);

    // The identity URL answers with that token.
    let identity: Value = flow
        .http
        .get(body["id"].as_str().unwrap())
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(identity["username"].as_str().unwrap().contains('@'));

    // Single use: the same code again is refused.
    let again = flow.exchange(&code, Some(verifier.secret())).await;
    assert_oauth_error(&again, "invalid_grant", "authentication failure");
    assert_eq!(fake.code_exchanges(), 1);
}

#[tokio::test]
async fn pkce_mismatch_is_rejected() {
    let fake = start_default().await;
    let flow = Flow::new(&fake);
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let other = PkceCodeVerifier::new("x".repeat(64));
    let code = flow.code(&challenge).await;
    let got = flow.exchange(&code, Some(other.secret())).await;
    assert_oauth_error(&got, "invalid_grant", "invalid code verifier");
    let code = flow.code(&challenge).await;
    let got = flow.exchange(&code, None).await;
    assert_oauth_error(&got, "invalid_grant", "invalid code verifier");
    assert_eq!(fake.code_exchanges(), 0);
}

#[tokio::test]
async fn authorize_refuses_unknown_apps_and_callbacks() {
    let fake = start_default().await;
    let flow = Flow::new(&fake);
    let base = [
        ("response_type", "code"),
        ("client_id", fake.client_id()),
        ("redirect_uri", fake.redirect_uri()),
        ("state", "s"),
    ];
    let with = |k: &str, v: &'static str| {
        base.iter()
            .map(|&(a, b)| if a == k { (a, v) } else { (a, b) })
            .collect::<Vec<_>>()
    };
    for params in [
        with("client_id", "someone-else"),
        with("redirect_uri", "https://evil.example/cb"),
    ] {
        let (status, location) = flow.authorize(&params).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{params:?}");
        assert!(location.is_none(), "no redirect to an untrusted callback");
    }
    let (status, location) = flow.authorize(&with("response_type", "token")).await;
    assert_eq!(status, StatusCode::FOUND);
    let location = location.unwrap();
    assert_eq!(
        param(&location, "error").as_deref(),
        Some("unsupported_response_type")
    );
    assert_eq!(param(&location, "state").as_deref(), Some("s"));
}

#[tokio::test]
async fn token_endpoint_errors() {
    let fake = FakeSalesforce::builder()
        .client_id("app")
        .client_secret(SecretString::from("shh"))
        .redirect_uri("https://crm.example/sf/callback")
        .start()
        .await
        .unwrap();
    assert_eq!(fake.client_id(), "app");
    assert_eq!(fake.redirect_uri(), "https://crm.example/sf/callback");
    let flow = Flow::new(&fake);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let v = verifier.secret().as_str();
    type Form<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Form, &str, &str); 4] = [
        (
            &[("grant_type", "password")],
            "unsupported_grant_type",
            "grant type not supported",
        ),
        (
            &[("grant_type", "authorization_code"), ("client_id", "nope")],
            "invalid_client_id",
            "client identifier invalid",
        ),
        (
            &[
                ("grant_type", "authorization_code"),
                ("client_id", "app"),
                ("client_secret", "wrong"),
            ],
            "invalid_client",
            "invalid client credentials",
        ),
        (
            &[
                ("grant_type", "refresh_token"),
                ("client_id", "app"),
                ("refresh_token", "5Aep-unknown"),
            ],
            "invalid_grant",
            "expired access/refresh token",
        ),
    ];
    for (form, error, description) in cases {
        assert_oauth_error(&flow.token(form).await, error, description);
    }
    let code = flow.code(&challenge).await;
    let got = flow
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "app"),
            ("client_secret", "shh"),
            ("redirect_uri", "https://crm.example/other"),
            ("code_verifier", v),
        ])
        .await;
    assert_oauth_error(
        &got,
        "redirect_uri_mismatch",
        "redirect_uri must match configuration",
    );

    let expired = FakeSalesforce::builder()
        .code_lifetime(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let flow = Flow::new(&expired);
    let code = flow.code(&challenge).await;
    let got = flow.exchange(&code, Some(v)).await;
    assert_oauth_error(&got, "invalid_grant", "expired authorization code");
}

#[tokio::test]
async fn refresh_issues_a_new_access_token_only() {
    let fake = start_default().await;
    let flow = Flow::new(&fake);
    let (access, refresh) = fake.issue_tokens();
    let (status, body) = flow.refresh(refresh.expose_secret()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for key in keys(&fixture("token-refresh-minimal.json")) {
        assert!(body.get(&key).is_some(), "{key}");
    }
    assert!(body.get("refresh_token").is_none(), "no new refresh token");
    let new_access = body["access_token"].as_str().unwrap();
    assert_ne!(new_access, access.expose_secret());
    assert_eq!(flow.limits_status(new_access).await, StatusCode::OK);
    assert_eq!(fake.refreshes(), 1);
    // A refresh without the secret is accepted; a wrong one is not.
    let no_secret = flow
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.expose_secret()),
            ("client_id", fake.client_id()),
        ])
        .await;
    assert_eq!(no_secret.0, StatusCode::OK);
    assert_eq!(fake.refreshes(), 2);
}

#[tokio::test]
async fn revoke_access_then_refresh_token() {
    let fake = start_default().await;
    let flow = Flow::new(&fake);
    let (access, refresh) = fake.issue_tokens();
    let (_, body) = flow.refresh(refresh.expose_secret()).await;
    let second = body["access_token"].as_str().unwrap().to_owned();

    assert_eq!(
        flow.revoke(access.expose_secret()).await,
        (StatusCode::OK, String::new())
    );
    assert_eq!(
        flow.limits_status(access.expose_secret()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        flow.limits_status(&second).await,
        StatusCode::OK,
        "other tokens live on"
    );

    assert_eq!(flow.revoke(refresh.expose_secret()).await.0, StatusCode::OK);
    assert_eq!(
        flow.limits_status(&second).await,
        StatusCode::UNAUTHORIZED,
        "its access tokens die with it"
    );
    let got = flow.refresh(refresh.expose_secret()).await;
    assert_oauth_error(&got, "invalid_grant", "expired access/refresh token");

    let (status, text) = flow.revoke("never-issued").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"], "unsupported_token_type");
    assert_eq!(fake.revocations(), 2);
}
