//! Bulk API 2.0 query jobs over real loopback HTTP: create, poll, results
//! paged by locator and compared with the REST query's records, queryAll,
//! abort and delete, the Bulk faults, a generated million-record org.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use salesforce_import::SObject;
use salesforce_import_fake::{Endpoint, Failure, FakeOrg, FakeSalesforce};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

mod support;
use support::bulk::*;
use support::*;

#[tokio::test]
async fn results_paged_by_locator_equal_the_rest_query() {
    let org = FakeOrg::sample();
    let tricky = json!({"LastName": "O\"Brien, \"Bob\"", "Description": "line one\nline two"});
    let odd = org
        .insert(&SObject::CONTACT, tricky.as_object().unwrap().clone())
        .unwrap();
    let fake = serve(org).await;
    let api = Api::new(&fake);
    let soqls = [
        "SELECT Id, Name, LastName, Description, DoNotCall, Account.Name, \
         Account.AnnualRevenue, Account.CreatedDate, SystemModstamp FROM Contact ORDER BY Id",
        "SELECT Id, Name, Amount, CloseDate, IsClosed, Probability, Account.Name, AccountId \
         FROM Opportunity ORDER BY Id",
    ];
    let mut kinds = Vec::new();
    for soql in soqls {
        let (status, job) = create(&api, "query", soql).await;
        assert_eq!(status, StatusCode::OK, "{job}");
        let id = job["id"].as_str().unwrap();
        assert!(id.starts_with("750") && id.len() == 18, "{id}");
        assert_eq!(job["state"], "UploadComplete");
        assert_eq!(job["operation"], "query");
        assert_eq!(job["concurrencyMode"], "Parallel");
        assert_eq!(job["contentType"], "CSV");
        assert_eq!(job["lineEnding"], "LF");
        assert_eq!(job["columnDelimiter"], "COMMA");
        assert_eq!(job["apiVersion"].as_f64(), api.version.parse().ok());
        assert_eq!(&job["createdById"].as_str().unwrap()[..3], "005");

        let (status, _, body) = results(&api, id, &[]).await;
        assert_eq!(status, StatusCode::PRECONDITION_FAILED, "not complete yet");
        assert_eq!(json_of(&body)[0]["errorCode"], "JOB_NOT_COMPLETE");
        let (_, first) = poll(&api, id).await;
        assert_eq!(
            (first["state"].clone(), first["jobType"].clone()),
            (json!("InProgress"), json!("V2Query"))
        );
        assert_eq!(first["numberRecordsProcessed"], 0);
        let (_, second) = poll(&api, id).await;
        assert_eq!(second["state"], "JobComplete");

        let rest = rest_records(&api, "query", soql).await;
        assert_eq!(second["numberRecordsProcessed"], rest.len());
        let served = fake.records_served();
        let (header, rows) = read_all(&api, id, 2).await;
        assert_eq!(fake.records_served() - served, rows.len() as u64);
        assert_eq!(header[0], "Id");
        assert!(header.contains(&"Account.Name".to_owned()), "{header:?}");
        assert_eq!(rows.len(), rest.len());
        for (record, row) in rest.iter().zip(&rows) {
            kinds.extend(assert_same(record, &header, row));
        }
        if let Some(row) = rows.iter().find(|r| r[0] == odd.as_str()) {
            assert_eq!(row[2..4], ["O\"Brien, \"Bob\"", "line one\nline two"]);
            kinds.push("quotes and line breaks");
        }
        assert_eq!(delete(&api, id).await, StatusCode::NO_CONTENT);
        let (status, gone) = poll(&api, id).await;
        assert_eq!(
            (status, gone[0]["errorCode"].clone()),
            (StatusCode::NOT_FOUND, json!("NOT_FOUND"))
        );
        assert_eq!(results(&api, id, &[]).await.0, StatusCode::NOT_FOUND);
        assert_eq!(delete(&api, id).await, StatusCode::NOT_FOUND);
    }
    for kind in [
        "null",
        "null parent",
        "bool",
        "number",
        "datetime",
        "text",
        "quotes and line breaks",
    ] {
        assert!(kinds.contains(&kind), "no {kind} compared");
    }
    assert_eq!(fake.bulk_jobs_created(), 2);
    assert_eq!(fake.bulk_jobs_open(), 0);
    assert_eq!(
        fake.count(Endpoint::BulkQuery),
        fake.requests()
            .iter()
            .filter(|r| r.path.contains("/jobs/query"))
            .count()
    );
    assert!(
        fake.queries().iter().any(|q| q == soqls[1]),
        "bulk SOQL is logged"
    );
}

#[tokio::test]
async fn query_all_jobs_include_deleted_rows() {
    let org = FakeOrg::generated_materialized(9, 30);
    let gone = org.records(&SObject::CONTACT, 3)[2].id().unwrap();
    let fake = serve(org.clone()).await;
    let api = Api::new(&fake);
    let soql = "SELECT Id, IsDeleted, LastName, Account.Name FROM Contact";
    let before = completed(&api, "query", soql).await;
    org.delete(&SObject::CONTACT, &gone).unwrap();
    let (_, live_rows) = read_all(&api, &before, 1000).await;
    assert!(
        live_rows.iter().any(|r| r[0] == gone.as_str()),
        "the snapshot is taken at creation"
    );

    let live = completed(&api, "query", soql).await;
    let all = completed(&api, "queryAll", soql).await;
    assert_eq!(poll(&api, &all).await.1["operation"], "queryAll");
    let (_, live_rows) = read_all(&api, &live, 7).await;
    let (header, all_rows) = read_all(&api, &all, 7).await;
    assert_eq!(all_rows.len(), live_rows.len() + 1);
    assert!(!live_rows.iter().any(|r| r[0] == gone.as_str()));
    let deleted = all_rows.iter().find(|r| r[0] == gone.as_str()).unwrap();
    assert_eq!(deleted[1], "true");
    let rest = rest_records(&api, "queryAll", soql).await;
    for (record, row) in rest.iter().zip(&all_rows) {
        assert_same(record, &header, row);
    }
}

#[tokio::test]
async fn unfinished_aborted_and_foreign_jobs() {
    let fake = start_default().await;
    let api = Api::new(&fake);
    let (_, job) = create(&api, "query", "SELECT Id FROM Account").await;
    let id = job["id"].as_str().unwrap();
    assert_eq!(
        delete(&api, id).await,
        StatusCode::BAD_REQUEST,
        "not terminated"
    );
    let (status, aborted) = abort(&api, id).await;
    assert_eq!(
        (status, aborted["state"].clone()),
        (StatusCode::OK, json!("Aborted"))
    );
    assert_eq!(
        poll(&api, id).await.1["state"],
        "Aborted",
        "polling does not revive it"
    );
    let (status, _, body) = results(&api, id, &[]).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert!(body.contains("Current status: ABORTED"), "{body}");
    let (status, again) = abort(&api, id).await;
    assert_eq!(
        (status, again[0]["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("INVALIDJOBSTATE"))
    );
    assert_eq!(delete(&api, id).await, StatusCode::NO_CONTENT);

    let done = completed(&api, "query", "SELECT Id, Name FROM Account").await;
    let (status, _, body) = results(&api, &done, &[("locator", "bm9wZQ".into())]).await;
    assert_eq!(
        (status, json_of(&body)[0]["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("INVALID_LOCATOR"))
    );
    assert_eq!(
        results(&api, &done, &[("maxRecords", "0".into())]).await.0,
        StatusCode::BAD_REQUEST
    );
    let (status, headers, _) = results(&api, &done[..15], &[]).await;
    assert_eq!(status, StatusCode::OK, "15-character ids work");
    assert_eq!(headers["sforce-locator"], "null");
    let older = Api::with_version(&fake, "60.0");
    let (status, _, _) = results(&older, &done, &[]).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "results in another version than the job's"
    );
    let ancient = Api::with_version(&fake, "46.0");
    assert_eq!(
        create(&ancient, "query", "SELECT Id FROM Account").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        poll(&api, "7505g0000000zzzAAA").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(poll(&api, "not-an-id").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn refused_queries_and_objects() {
    let fake = start_default().await;
    let api = Api::new(&fake);
    for (soql, code) in [
        ("SELECT COUNT() FROM Account", "API_ERROR"),
        ("SELECT Id FROM Nope", "INVALID_TYPE"),
        ("SELECT Id, Nope FROM Account", "INVALID_FIELD"),
        ("SELECT FROM Account", "MALFORMED_QUERY"),
    ] {
        let (status, body) = create(&api, "query", soql).await;
        assert_eq!(
            (status, body[0]["errorCode"].clone()),
            (StatusCode::BAD_REQUEST, json!(code)),
            "{soql}"
        );
        assert!(body[0]["message"].is_string());
    }
    for body in [
        json!({"operation": "insert", "query": "SELECT Id FROM Account"}),
        json!({"operation": "query"}),
        json!({"operation": "query", "query": "SELECT Id FROM Account", "contentType": "JSON"}),
        json!({"operation": "query", "query": "SELECT Id FROM Account", "lineEnding": "CR"}),
    ] {
        assert_eq!(create_with(&api, body).await.0, StatusCode::BAD_REQUEST);
    }
    let url = jobs_url(&api, &api.version, "");
    let (status, _, text) = answer(api.http.post(url).body("{not json"), &api).await;
    assert_eq!(
        (status, json_of(&text)[0]["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("JSON_PARSER_ERROR"))
    );

    fake.faults().bulk_refuse_object(SObject::ACCOUNT);
    let (status, body) = create(&api, "query", "SELECT Id FROM account").await;
    assert_eq!(
        (status, body[0]["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("INVALIDJOB"))
    );
    assert_eq!(
        body[0]["message"],
        "Entity 'account' is not supported by the Bulk API."
    );
    assert_eq!(
        api.query("SELECT Id FROM Account", None).await.0,
        StatusCode::OK,
        "REST still works"
    );
    assert_eq!(
        create(&api, "query", "SELECT Id FROM Contact").await.0,
        StatusCode::OK
    );
    fake.faults().clear();
    assert_eq!(
        create(&api, "query", "SELECT Id FROM Account").await.0,
        StatusCode::OK
    );
    assert_eq!(fake.bulk_jobs_created(), 2);
}

#[tokio::test]
async fn failed_and_stuck_jobs() {
    let fake = start_default().await;
    let api = Api::new(&fake);
    fake.faults().bulk_fail_next_jobs(1);
    let (_, job) = create(&api, "query", "SELECT Id FROM Account").await;
    let failed = job["id"].as_str().unwrap();
    assert_eq!(poll(&api, failed).await.1["state"], "InProgress");
    let (_, info) = poll(&api, failed).await;
    assert_eq!(info["state"], "Failed");
    assert!(
        info["errorMessage"].as_str().is_some_and(|m| !m.is_empty()),
        "{info}"
    );
    let (status, _, body) = results(&api, failed, &[]).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert!(body.contains("FAILED"));
    assert_eq!(delete(&api, failed).await, StatusCode::NO_CONTENT);

    fake.faults().bulk_stick_next_jobs(1);
    let (_, job) = create(&api, "query", "SELECT Id FROM Account").await;
    let stuck = job["id"].as_str().unwrap();
    for _ in 0..10 {
        assert_eq!(poll(&api, stuck).await.1["state"], "InProgress");
    }
    assert_eq!(
        delete(&api, stuck).await,
        StatusCode::BAD_REQUEST,
        "not terminated"
    );
    assert_eq!(abort(&api, stuck).await.0, StatusCode::OK);
    assert_eq!(delete(&api, stuck).await, StatusCode::NO_CONTENT);
    completed(&api, "query", "SELECT Id FROM Account").await;
    assert_eq!(fake.bulk_jobs_open(), 1);
}

#[tokio::test]
async fn precondition_failed_then_results() {
    let fake = start_default().await;
    let api = Api::new(&fake);
    let id = completed(&api, "query", "SELECT Id FROM Contact").await;
    fake.faults().bulk_results_precondition_failed(2);
    for _ in 0..2 {
        let (status, _, body) = results(&api, &id, &[]).await;
        assert_eq!(status, StatusCode::PRECONDITION_FAILED);
        assert_eq!(json_of(&body)[0]["errorCode"], "JOB_NOT_COMPLETE");
    }
    assert_eq!(results(&api, &id, &[]).await.0, StatusCode::OK);
}

#[tokio::test]
async fn expired_jobs_are_gone() {
    let fake = start_default().await;
    let api = Api::new(&fake);
    let done = completed(&api, "query", "SELECT Id FROM Account").await;
    let (_, job) = create(&api, "query", "SELECT Id FROM Contact").await;
    let waiting = job["id"].as_str().unwrap().to_owned();
    assert_eq!(fake.bulk_jobs_open(), 2);
    fake.faults().bulk_expire_jobs();
    assert_eq!(fake.bulk_jobs_open(), 0);
    let fresh = completed(&api, "query", "SELECT Id FROM Account").await;
    for id in [&done, &waiting] {
        let (status, body) = poll(&api, id).await;
        assert_eq!(
            (status, body[0]["errorCode"].clone()),
            (StatusCode::NOT_FOUND, json!("NOT_FOUND"))
        );
        assert_eq!(results(&api, id, &[]).await.0, StatusCode::NOT_FOUND);
        assert_eq!(abort(&api, id).await.0, StatusCode::NOT_FOUND);
        assert_eq!(delete(&api, id).await, StatusCode::NOT_FOUND);
    }
    fake.faults().clear();
    assert_eq!(
        poll(&api, &done).await.0,
        StatusCode::NOT_FOUND,
        "clear() revives nothing"
    );
    assert_eq!(results(&api, &fresh, &[]).await.0, StatusCode::OK);
    assert_eq!((fake.bulk_jobs_created(), fake.bulk_jobs_open()), (3, 1));
}

#[tokio::test]
async fn generic_faults_and_accounting_cover_bulk_requests() {
    let fake = FakeSalesforce::builder()
        .daily_api_limit(100)
        .start()
        .await
        .unwrap();
    let api = Api::new(&fake);
    fake.faults()
        .fail_next_on(Endpoint::BulkQuery, 1, Failure::ServerError);
    assert_eq!(
        create(&api, "query", "SELECT Id FROM Account").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let id = completed(&api, "query", "SELECT Id FROM Account").await;
    fake.faults()
        .fail_next_on(Endpoint::BulkQuery, 1, Failure::ConnectionReset);
    let url = jobs_url(&api, &api.version, &format!("/{id}/results"));
    let reset = api
        .http
        .get(url)
        .bearer_auth(api.token.expose_secret())
        .send()
        .await;
    assert!(reset.is_err(), "the connection was dropped");
    let (status, headers, _) = results(&api, &id, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let used = fake.api_usage();
    assert_eq!(
        headers["sforce-limit-info"],
        format!("api-usage={used}/100").as_str()
    );
    // The 500 and the reset never reached the API.
    assert_eq!(used as usize, fake.count(Endpoint::BulkQuery) - 2);

    fake.faults().expire_tokens_after(0);
    let (status, body) = poll(&api, &id).await;
    assert_eq!(
        (status, body[0]["errorCode"].clone()),
        (StatusCode::UNAUTHORIZED, json!("INVALID_SESSION_ID"))
    );
    let api = Api::new(&fake);
    fake.faults().rate_limit_after(0);
    assert_eq!(poll(&api, &id).await.0, StatusCode::FORBIDDEN);
    fake.faults().clear_rate_limit();
    assert_eq!(delete(&api, &id).await, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn delimiters_line_endings_and_polls_to_complete() {
    let fake = FakeSalesforce::builder()
        .bulk_polls_to_complete(0)
        .start()
        .await
        .unwrap();
    let api = Api::new(&fake);
    let body = json!({"operation": "query", "query": "SELECT Id, Name FROM Account",
                      "columnDelimiter": "PIPE", "lineEnding": "CRLF", "contentType": "CSV"});
    let (status, job) = create_with(&api, body).await;
    assert_eq!(
        (status, job["state"].clone()),
        (StatusCode::OK, json!("UploadComplete"))
    );
    assert_eq!(
        (job["columnDelimiter"].clone(), job["lineEnding"].clone()),
        (json!("PIPE"), json!("CRLF"))
    );
    let id = job["id"].as_str().unwrap();
    let (status, _, text) = results(&api, id, &[]).await;
    assert_eq!(status, StatusCode::OK, "complete without polling");
    assert!(text.starts_with("\"Id\"|\"Name\"\r\n"), "{text}");
    let rows = parse_csv_with(&text, '|');
    assert_eq!(rows.len() as u64, fake.org().count(&SObject::ACCOUNT) + 1);

    let slow = FakeSalesforce::builder()
        .bulk_polls_to_complete(3)
        .start()
        .await
        .unwrap();
    let api = Api::new(&slow);
    let (_, job) = create(&api, "query", "SELECT Id FROM Account").await;
    let id = job["id"].as_str().unwrap();
    let states: Vec<Value> = states(&api, id, 4).await;
    assert_eq!(
        states,
        [
            json!("InProgress"),
            json!("InProgress"),
            json!("JobComplete"),
            json!("JobComplete")
        ]
    );
}

async fn states(api: &Api, id: &str, n: usize) -> Vec<Value> {
    let mut states = Vec::new();
    for _ in 0..n {
        states.push(poll(api, id).await.1["state"].clone());
    }
    states
}

#[tokio::test]
async fn a_generated_million_record_job_streams_its_sets() {
    let fake = serve(FakeOrg::generated(42, 1_000_000)).await;
    let api = Api::new(&fake);
    let soql = "SELECT Id, Name, Email, Account.Name, CreatedDate FROM Contact";
    let started = Instant::now();
    let id = completed(&api, "query", soql).await;
    assert_eq!(poll(&api, &id).await.1["numberRecordsProcessed"], 1_000_000);
    let (status, headers, text) = results(&api, &id, &[("maxRecords", "1000".into())]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["sforce-numberofrecords"], "1000");
    assert_ne!(headers["sforce-locator"], "null");
    let set = parse_csv(&text);
    let rest = rest_records(&api, "query", &format!("{soql} ORDER BY Id LIMIT 5")).await;
    for (record, row) in rest.iter().zip(&set[1..]) {
        assert_same(record, &set[0], row);
    }
    let (status, headers, text) = results(
        &api,
        &id,
        &[(
            "locator",
            headers["sforce-locator"].to_str().unwrap().to_owned(),
        )],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers["sforce-numberofrecords"], "50000",
        "the default set size"
    );
    assert_eq!(parse_csv(&text).len(), 50_001);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(fake.records_served_of(&SObject::CONTACT), 51_000 + 5);
}
