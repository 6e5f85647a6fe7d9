//! The test kit's fake Salesforce, exercised over real loopback HTTP with
//! a plain reqwest client: shapes compared with recorded Salesforce
//! responses (tests/fixtures/api-responses), paging, SOQL errors, OAuth,
//! faults.

use std::collections::{BTreeSet, HashSet};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use salesforce_import::SObject;
use salesforce_import_fake::{Endpoint, FakeOrg, FakeSalesforce};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

mod support;
use support::*;

#[tokio::test]
async fn query_pages_reach_every_record_once() {
    let fake = FakeSalesforce::builder()
        .min_batch_size(1)
        .start()
        .await
        .unwrap();
    let api = Api::new(&fake);
    let soql = "SELECT Id, LastName, AccountId FROM Contact ORDER BY Id";
    let (pages, ids) = api.query_all(soql, Some(7)).await;
    let want: Vec<String> = fake
        .org()
        .records(&SObject::CONTACT, usize::MAX)
        .iter()
        .map(|r| r.text("Id").unwrap().unwrap())
        .collect();
    assert_eq!(ids, want, "every record once, in Id order");
    assert_eq!(pages.len(), want.len().div_ceil(7));
    let first = &pages[0];
    assert_eq!(first["totalSize"], want.len());
    assert_eq!(first["done"], false);
    let next = first["nextRecordsUrl"].as_str().unwrap();
    let (locator, offset) = next.rsplit_once('-').unwrap();
    assert!(locator.starts_with(&format!("/services/data/v{}/query/01g", fake.api_version())));
    assert_eq!(offset, "7");
    let last = pages.last().unwrap();
    assert_eq!(last["done"], true);
    assert!(
        last.get("nextRecordsUrl").is_none(),
        "the last page has no nextRecordsUrl key"
    );
    assert_eq!(fake.count(Endpoint::Query), 1);
    assert_eq!(fake.count(Endpoint::QueryMore), pages.len() - 1);
    assert_eq!(fake.queries(), [soql]);
    assert!(fake.requests().iter().all(|r| r.batch_size == Some(7)));
}

#[tokio::test]
async fn page_shape_matches_salesforce() {
    let fake = FakeSalesforce::builder()
        .min_batch_size(1)
        .start()
        .await
        .unwrap();
    let api = Api::new(&fake);
    let (status, _, page) = api
        .query("SELECT Id FROM Contact ORDER BY Id", Some(3))
        .await;
    assert_eq!(status, StatusCode::OK);
    let first = fixture("query-page-first.json");
    assert_eq!(keys(&page), keys(&first));
    assert_eq!(keys(&page["records"][0]), keys(&first["records"][0]));
    assert_eq!(
        keys(&page["records"][0]["attributes"]),
        keys(&first["records"][0]["attributes"])
    );
    let id = page["records"][0]["Id"].as_str().unwrap();
    assert_eq!(
        page["records"][0]["attributes"]["url"],
        format!(
            "/services/data/v{}/sobjects/Contact/{id}",
            fake.api_version()
        )
    );
    let last = fixture("query-page-last.json");
    let (_, _, whole) = api
        .query("SELECT Id FROM Contact ORDER BY Id LIMIT 2", None)
        .await;
    assert_eq!(keys(&whole), keys(&last));
}

#[tokio::test]
async fn batch_size_is_clamped_like_salesforce() {
    let fake = FakeSalesforce::builder()
        .org(FakeOrg::generated(1, 5_000))
        .start()
        .await
        .unwrap();
    let api = Api::new(&fake);
    for (asked, served) in [
        (None, 2000),
        (Some(10), 200),
        (Some(500), 500),
        (Some(5000), 2000),
    ] {
        let (_, _, page) = api.query("SELECT Id FROM Account ORDER BY Id", asked).await;
        assert_eq!(
            page["records"].as_array().unwrap().len(),
            served,
            "batchSize {asked:?}"
        );
        assert_eq!(page["totalSize"], 5000);
    }
}

#[tokio::test]
async fn where_id_resumes_after_a_checkpoint() {
    let fake = FakeSalesforce::builder()
        .org(FakeOrg::generated(9, 1_000))
        .start()
        .await
        .unwrap();
    let api = Api::new(&fake);
    let (_, all) = api
        .query_all("SELECT Id FROM Account ORDER BY Id", None)
        .await;
    assert_eq!(all.len(), 1_000);
    let checkpoint = &all[399];
    let soql = format!("SELECT Id FROM Account WHERE Id > '{checkpoint}' ORDER BY Id LIMIT 250");
    let (_, _, page) = api.query(&soql, None).await;
    let got: Vec<&str> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Id"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        all[400..650].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(page["totalSize"], 250);
    assert_eq!(page["done"], true);
    // The 15-character spelling of the checkpoint resumes at the same place.
    let short = format!(
        "SELECT Id FROM Account WHERE Id > '{}' ORDER BY Id LIMIT 1",
        &checkpoint[..15]
    );
    let (_, _, page) = api.query(&short, None).await;
    assert_eq!(page["records"][0]["Id"], all[400]);
}

#[tokio::test]
async fn generated_org_references_resolve() {
    let fake = FakeSalesforce::builder()
        .org(FakeOrg::generated(5, 400))
        .start()
        .await
        .unwrap();
    let api = Api::new(&fake);
    let (_, accounts) = api.query_all("SELECT Id FROM Account", None).await;
    let accounts: HashSet<String> = accounts.into_iter().collect();
    let (pages, _) = api
        .query_all(
            "SELECT Id, AccountId, Account.Name FROM Contact ORDER BY Id",
            None,
        )
        .await;
    let mut linked = 0;
    for record in pages.iter().flat_map(|p| p["records"].as_array().unwrap()) {
        match record["AccountId"].as_str() {
            Some(account) => {
                assert!(accounts.contains(account), "{account} exists");
                assert!(record["Account"]["Name"].as_str().unwrap().contains(' '));
                linked += 1;
            }
            None => assert!(record["Account"].is_null()),
        }
    }
    assert!(linked > 350, "most contacts have an account ({linked})");
    let (pages, _) = api
        .query_all(
            "SELECT Id, Pricebook2Id, Pricebook2.IsStandard FROM PricebookEntry",
            None,
        )
        .await;
    assert!(
        pages[0]["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["Pricebook2"]["IsStandard"] == true)
    );
}

#[tokio::test]
async fn bad_soql_gets_salesforce_errors() {
    let fake = FakeSalesforce::builder()
        .org(
            FakeOrg::sample()
                .without_object(SObject::ORDER)
                .hide_field(SObject::ACCOUNT, "Phone"),
        )
        .start()
        .await
        .unwrap();
    let api = Api::new(&fake);
    let cases = [
        (
            "SELECT Id FRM Account",
            "MALFORMED_QUERY",
            "unexpected token: 'FRM'",
        ),
        (
            "SELECT Id FROM Account WHERE Name < 'x'",
            "MALFORMED_QUERY",
            "an ordering comparison on text field Name",
        ),
        (
            "SELECT Id, Foo FROM Account",
            "INVALID_FIELD",
            "No such column 'Foo' on entity 'Account'",
        ),
        (
            "SELECT Id, Phone FROM Account",
            "INVALID_FIELD",
            "No such column 'Phone'",
        ),
        (
            "SELECT Id, Nope.Name FROM Contact",
            "INVALID_FIELD",
            "Didn't understand relationship 'Nope'",
        ),
        (
            "SELECT Id FROM Order",
            "INVALID_TYPE",
            "sObject type 'Order' is not supported",
        ),
        (
            "SELECT Id FROM Account WHERE AnnualRevenue = 'x'",
            "MALFORMED_QUERY",
            "other than Id",
        ),
        (
            "SELECT Id FROM Account WHERE Id > 'bad'",
            "INVALID_QUERY_FILTER_OPERATOR",
            "invalid ID field: bad",
        ),
    ];
    let shape = fixture("error-malformed-query.json");
    for (soql, code, text) in cases {
        let (status, _, body) = api.query(soql, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{soql}");
        assert_eq!(keys(&body[0]), keys(&shape[0]), "{soql}");
        assert_eq!(body[0]["errorCode"], code, "{soql}");
        let message = body[0]["message"].as_str().unwrap();
        assert!(message.contains(text), "{soql}: {message}");
        assert!(
            message.contains("ERROR at Row:1:Column:") || code == "INVALID_QUERY_FILTER_OPERATOR",
            "{message}"
        );
    }
    let (status, _, body) = api.get("sobjects/Order/describe").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, fixture("error-not-found.json"));
}

#[tokio::test]
async fn describe_and_global_describe_match_fixture_shapes() {
    let fake = FakeSalesforce::builder()
        .org(FakeOrg::sample().hide_field(SObject::ACCOUNT, "Description"))
        .start()
        .await
        .unwrap();
    let api = Api::new(&fake);
    let (status, _, account) = api.get("sobjects/account/describe").await;
    assert_eq!(status, StatusCode::OK);
    let real = fixture("describe-account.json");
    assert_eq!(keys(&account), keys(&real));
    assert_eq!(keys(&account["fields"][0]), keys(&real["fields"][0]));
    assert_eq!(account["name"], "Account");
    assert_eq!(account["keyPrefix"], "001");
    let names: BTreeSet<&str> = account["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    for field in ["Id", "Name", "ParentId", "BillingCountry", "AnnualRevenue"] {
        assert!(names.contains(field), "{field}");
    }
    assert!(
        !names.contains("Description"),
        "hidden fields are not described"
    );
    let parent = account["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "ParentId")
        .unwrap();
    assert_eq!(parent["type"], "reference");
    assert_eq!(parent["referenceTo"], serde_json::json!(["Account"]));
    assert_eq!(parent["relationshipName"], "Parent");

    let (_, _, global) = api.get("sobjects").await;
    let real = fixture("describe-global.json");
    assert_eq!(keys(&global), keys(&real));
    assert_eq!(keys(&global["sobjects"][0]), keys(&real["sobjects"][0]));
    let objects: BTreeSet<&str> = global["sobjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    for o in SObject::STANDARD {
        assert!(objects.contains(o.as_str()), "{o}");
    }
}

#[tokio::test]
async fn limits_and_versions_match_fixture_shapes() {
    let fake = FakeSalesforce::builder()
        .api_versions(["58.0", "59.0", "60.0"])
        .daily_api_limit(1_000)
        .start()
        .await
        .unwrap();
    let api = Api::new(&fake);
    let (status, headers, limits) = api.get("limits").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&limits), keys(&fixture("limits.json")));
    assert_eq!(limits["DailyApiRequests"]["Max"], 1_000);
    assert_eq!(limits["DailyApiRequests"]["Remaining"], 999);
    assert_eq!(limit_info(&headers), "api-usage=1/1000");
    api.get("sobjects").await;
    let (_, headers, limits) = api.get("limits").await;
    assert_eq!(limits["DailyApiRequests"]["Remaining"], 997);
    assert_eq!(limit_info(&headers), "api-usage=3/1000");
    assert_eq!(fake.api_usage(), 3);

    let versions: Value = reqwest::get(format!("{}/services/data", fake.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let real = fixture("versions.json");
    assert_eq!(keys(&versions[0]), keys(&real[0]));
    assert_eq!(versions.as_array().unwrap().len(), 3);
    assert_eq!(versions[2]["url"], "/services/data/v60.0");
    assert_eq!(versions[2]["label"], "Spring '24");
    let old = Api::with_version(&fake, "57.0");
    assert_eq!(old.get("limits").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn data_endpoints_need_a_live_bearer_token() {
    let fake = start_default().await;
    let url = format!(
        "{}/services/data/v{}/limits",
        fake.url(),
        fake.api_version()
    );
    let http = reqwest::Client::new();
    let want = fixture("error-invalid-session.json");
    for auth in [None, Some("Bearer nope"), Some("Basic abc")] {
        let mut req = http.get(&url);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(resp.json::<Value>().await.unwrap(), want);
    }
    let (access, _) = fake.issue_tokens();
    let resp = http
        .get(&url)
        .bearer_auth(access.expose_secret())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(fake.is_token_live(access.expose_secret()));
    assert_eq!(fake.api_usage(), 1, "refused calls do not count");
}

#[tokio::test]
async fn connection_is_ready_to_use() {
    let fake = start_default().await;
    let connection = fake.connection("ada@example.com");
    assert_eq!(connection.instance_url, fake.instance_url());
    let api = Api::with_token(&fake, connection.access_token.clone());
    assert_eq!(api.get("limits").await.0, StatusCode::OK);
    assert!(!format!("{connection:?}").contains(connection.access_token.expose_secret()));
    let _: SecretString = connection.refresh_token.unwrap();
}

fn limit_info(headers: &HeaderMap) -> &str {
    headers.get("sforce-limit-info").unwrap().to_str().unwrap()
}

#[tokio::test]
async fn tree_file_org_resolves_parents_by_id() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/tree/plugin-data/self-referencing"
    );
    let fake = FakeSalesforce::builder()
        .org(FakeOrg::from_dir(dir).unwrap())
        .min_batch_size(1)
        .start()
        .await
        .unwrap();
    let api = Api::new(&fake);
    let (pages, ids) = api
        .query_all(
            "SELECT Id, Name, ParentId, Parent.Name FROM Account ORDER BY Id",
            Some(4),
        )
        .await;
    assert_eq!(ids.len() as u64, fake.org().count(&SObject::ACCOUNT));
    let names: std::collections::HashMap<&str, &str> = pages
        .iter()
        .flat_map(|p| p["records"].as_array().unwrap())
        .map(|r| (r["Id"].as_str().unwrap(), r["Name"].as_str().unwrap()))
        .collect();
    let mut with_parent = 0;
    for record in pages.iter().flat_map(|p| p["records"].as_array().unwrap()) {
        match record["ParentId"].as_str() {
            Some(parent) => {
                assert_eq!(record["Parent"]["Name"], names[parent], "{record}");
                assert_eq!(record["Parent"]["attributes"]["type"], "Account");
                with_parent += 1;
            }
            None => assert!(record["Parent"].is_null()),
        }
    }
    assert!(with_parent > 0, "the fixture has parent references");
}

#[tokio::test]
async fn text_equality_ignores_case_as_soql_does() {
    let fake = FakeSalesforce::builder().start().await.unwrap();
    let api = Api::new(&fake);
    let (status, _, body) = api
        .query(
            "SELECT Id, Name FROM Account WHERE Name = 'müller gmbh'",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<&str> = body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Müller GmbH"]);
    let total = fake.org().count(&SObject::ACCOUNT);
    let (status, _, body) = api
        .query("SELECT Id FROM Account WHERE Name != 'Müller GmbH'", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["totalSize"], total - 1);
}
