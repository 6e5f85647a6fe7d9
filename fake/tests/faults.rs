//! The fake Salesforce's faults on demand, seen by a plain reqwest client.

use std::time::Duration;

use reqwest::StatusCode;
use salesforce_import_fake::{Endpoint, Failure, FakeOrg, FakeSalesforce};
use secrecy::ExposeSecret;
use serde_json::Value;

mod support;
use support::*;

#[tokio::test]
async fn expired_tokens_until_refreshed() {
    let fake = start_default().await;
    let (access, refresh) = fake.issue_tokens();
    let api = Api::with_token(&fake, access.clone());
    fake.faults().expire_tokens_after(2);
    assert_eq!(api.get("limits").await.0, StatusCode::OK);
    assert_eq!(api.get("sobjects").await.0, StatusCode::OK);
    let (status, _, body) = api.get("limits").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, fixture("error-invalid-session.json"));
    assert!(!fake.is_token_live(access.expose_secret()));

    let resp: Value = reqwest::Client::new()
        .post(format!("{}/services/oauth2/token", fake.login_url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.expose_secret()),
            ("client_id", fake.client_id()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fresh = Api::with_token(
        &fake,
        resp["access_token"].as_str().unwrap().to_owned().into(),
    );
    assert_eq!(fresh.get("limits").await.0, StatusCode::OK);
    assert_eq!(fake.refreshes(), 1, "refreshed exactly once");
}

#[tokio::test]
async fn server_errors_for_the_next_requests() {
    let fake = start_default().await;
    let api = Api::new(&fake);
    fake.faults().fail_next(2, Failure::ServiceUnavailable);
    for _ in 0..2 {
        let (status, headers, body) = api.get("limits").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(body.as_str().unwrap().contains("<html>"));
    }
    assert_eq!(api.get("limits").await.0, StatusCode::OK);

    fake.faults()
        .fail_next_on(Endpoint::Describe, 1, Failure::ServerError);
    assert_eq!(
        api.get("limits").await.0,
        StatusCode::OK,
        "other endpoints pass"
    );
    let (status, _, body) = api.get("sobjects/Account/describe").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body[0]["errorCode"], "UNKNOWN_EXCEPTION");
    assert_eq!(api.get("sobjects/Account/describe").await.0, StatusCode::OK);
    let failed: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.failure.is_some())
        .collect();
    assert_eq!(failed.len(), 3);
    assert_eq!(failed[2].status, Some(500));
}

#[tokio::test]
async fn a_chosen_request_number_fails() {
    let fake = start_default().await;
    let api = Api::new(&fake);
    fake.faults().fail_request(3, Failure::ServerError);
    let statuses = [
        api.get("limits").await.0,
        api.get("limits").await.0,
        api.get("limits").await.0,
        api.get("limits").await.0,
    ];
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::OK
        ]
    );
    let numbers: Vec<u64> = fake.requests().iter().map(|r| r.number).collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
}

#[tokio::test]
async fn connection_reset_gives_no_response() {
    let fake = FakeSalesforce::builder()
        .min_batch_size(1)
        .start()
        .await
        .unwrap();
    let api = Api::new(&fake);
    let (_, _, first) = api.query("SELECT Id FROM Account", Some(10)).await;
    let next = first["nextRecordsUrl"].as_str().unwrap().to_owned();
    fake.faults()
        .fail_next_on(Endpoint::QueryMore, 1, Failure::ConnectionReset);
    let err = api
        .http
        .get(format!("{}{next}", fake.url()))
        .bearer_auth(api.token.expose_secret())
        .send()
        .await
        .unwrap_err();
    assert!(
        err.is_request() || err.is_connect() || err.is_body(),
        "{err:?}"
    );
    // The same page is served on a retry, from the same locator.
    let (status, _, page) = api.get_url(&next, Some(10)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["records"].as_array().unwrap().len(), 10);
    let reset = fake
        .requests()
        .into_iter()
        .find(|r| r.failure.is_some())
        .unwrap();
    assert_eq!((reset.status, reset.endpoint), (None, Endpoint::QueryMore));
}

#[tokio::test]
async fn rate_limit_until_cleared() {
    let fake = start_default().await;
    let api = Api::new(&fake);
    fake.faults().rate_limit_after(1);
    assert_eq!(api.get("limits").await.0, StatusCode::OK);
    for _ in 0..2 {
        let (status, _, body) = api.get("sobjects").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body, fixture("error-request-limit.json"));
    }
    fake.faults().clear_rate_limit();
    assert_eq!(api.get("sobjects").await.0, StatusCode::OK);
}

#[tokio::test]
async fn daily_allowance_runs_out() {
    let fake = FakeSalesforce::builder()
        .daily_api_limit(2)
        .start()
        .await
        .unwrap();
    let api = Api::new(&fake);
    assert_eq!(api.get("limits").await.0, StatusCode::OK);
    let (_, _, limits) = api.get("limits").await;
    assert_eq!(limits["DailyApiRequests"]["Remaining"], 0);
    let (status, headers, body) = api.get("limits").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body[0]["errorCode"], "REQUEST_LIMIT_EXCEEDED");
    assert_eq!(headers["sforce-limit-info"], "api-usage=2/2");
}

#[tokio::test]
async fn truncated_and_html_bodies() {
    let fake = FakeSalesforce::builder()
        .org(FakeOrg::generated(3, 500))
        .start()
        .await
        .unwrap();
    let api = Api::new(&fake);
    fake.faults().fail_next(1, Failure::TruncatedBody);
    let (status, headers, body) = api.query("SELECT Id, Name FROM Account", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let text = body.as_str().expect("not JSON: came back as text");
    assert!(text.starts_with("{\"totalSize\":500"), "{}", &text[..40]);
    assert!(serde_json::from_str::<Value>(text).is_err());

    fake.faults().fail_next(1, Failure::HtmlBody);
    let (status, headers, body) = api.get("limits").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(body.as_str().unwrap().contains("<html>"));
    assert_eq!(api.get("limits").await.0, StatusCode::OK);
}

#[tokio::test]
async fn latency_delays_responses() {
    let fake = start_default().await;
    let api = Api::new(&fake);
    fake.faults().set_latency(Duration::from_secs(30));
    let slow = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = slow
        .get(format!("{}/services/data", fake.url()))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    fake.faults().clear();
    assert_eq!(api.get("limits").await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_armed_from_another_task() {
    let fake = start_default().await;
    let faults = fake.faults().clone();
    tokio::spawn(async move { faults.fail_next(1, Failure::ServerError) })
        .await
        .unwrap();
    let api = Api::new(&fake);
    assert_eq!(api.get("limits").await.0, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(api.get("limits").await.0, StatusCode::OK);
    fake.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_the_port() {
    let fake = start_default().await;
    let url = format!("{}/services/data", fake.url());
    assert!(reqwest::get(&url).await.unwrap().status().is_success());
    fake.shutdown().await;
    let err = reqwest::Client::new().get(&url).send().await.unwrap_err();
    assert!(err.is_connect() || err.is_request(), "{err:?}");
}

#[tokio::test]
async fn expired_query_locator_then_keyset_resume() {
    let fake = FakeSalesforce::builder()
        .org(FakeOrg::generated(11, 1_000))
        .start()
        .await
        .unwrap();
    let api = Api::new(&fake);
    let (_, _, first) = api
        .query("SELECT Id FROM Contact ORDER BY Id", Some(300))
        .await;
    let next = first["nextRecordsUrl"].as_str().unwrap().to_owned();
    let last_id = first["records"][299]["Id"].as_str().unwrap().to_owned();
    fake.faults().expire_query_locators();
    let (status, _, body) = api.get_url(&next, Some(300)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body[0]["errorCode"], "INVALID_QUERY_LOCATOR");
    // Keyset resume does not depend on the locator.
    let soql = format!("SELECT Id FROM Contact WHERE Id > '{last_id}' ORDER BY Id");
    let (_, ids) = api.query_all(&soql, Some(300)).await;
    assert_eq!(ids.len(), 700);
    assert!(ids[0] > last_id);
}
