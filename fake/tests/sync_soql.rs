//! The SOQL an incremental-sync client sends, over real loopback HTTP:
//! keyset filters on (SystemModstamp, Id) across stamps shared over a page
//! boundary, COUNT(), stamp filters on generated orgs, located errors.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use salesforce_import::SObject;
use salesforce_import_fake::FakeOrg;
use serde_json::{Map, json};

mod support;
use support::*;

/// Reads the records changed since `since`, `limit` at a time, each read
/// resuming after the last (SystemModstamp, Id) as a sync does; every read
/// is paged by `batch`. Returns (Id, SystemModstamp) in the order read.
async fn keyset_read(api: &Api, since: &str, limit: u32, batch: u32) -> Vec<(String, String)> {
    let mut read: Vec<(String, String)> = Vec::new();
    let mut spelling = 0;
    loop {
        let mut soql =
            format!("SELECT Id, SystemModstamp FROM Contact WHERE SystemModstamp >= {since}");
        if let Some((last_id, last_stamp)) = read.last() {
            let at: DateTime<Utc> = DateTime::parse_from_str(last_stamp, "%Y-%m-%dT%H:%M:%S%.3f%z")
                .unwrap()
                .into();
            // Each spelling Salesforce accepts, in turn.
            spelling += 1;
            let at = match spelling % 3 {
                0 => at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                1 => at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                _ => at.format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string(),
            };
            soql.push_str(&format!(
                " AND (SystemModstamp > {at} OR (SystemModstamp = {at} AND Id > '{last_id}'))"
            ));
        }
        soql.push_str(&format!(" ORDER BY SystemModstamp, Id LIMIT {limit}"));
        let (pages, _) = api.pages("queryAll", &soql, Some(batch)).await;
        let got = records(&pages);
        if got.is_empty() {
            return read;
        }
        assert!(got.len() <= limit as usize);
        read.extend(got.iter().map(|r| {
            let id = r["Id"].as_str().unwrap().to_owned();
            (id, r["SystemModstamp"].as_str().unwrap().to_owned())
        }));
    }
}

#[tokio::test]
async fn keyset_where_pages_through_a_shared_stamp() {
    let fake = serve(FakeOrg::generated_materialized(5, 200)).await;
    let (org, api) = (fake.org(), Api::new(&fake));
    let contacts = ids(org, &SObject::CONTACT);
    let since = org.now();
    let since_literal = since.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    // 25 contacts share the first stamp, out of Id order; 13 the next (3
    // of them changed twice); one is deleted at the last.
    let nothing = || Map::new();
    for i in (0..25).map(|k| (k * 37) % 200) {
        org.update(&SObject::CONTACT, &contacts[i], nothing())
            .unwrap();
    }
    org.advance(Duration::from_secs(60));
    for i in (0..13).map(|k| 1 + k * 15).chain([0, 37, 74]) {
        org.update(&SObject::CONTACT, &contacts[i], nothing())
            .unwrap();
    }
    org.advance(Duration::from_secs(60));
    org.delete(&SObject::CONTACT, &contacts[5]).unwrap();

    let mut want: Vec<(String, String)> = org
        .all_records(&SObject::CONTACT)
        .iter()
        .filter(|r| modstamp(r) >= since)
        .map(|r| (r.id().unwrap().to_string(), stamp(modstamp(r))))
        .collect();
    want.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    assert_eq!(want.len(), 25 + 13 + 1);
    assert_eq!(want.iter().filter(|w| w.1 == stamp(since)).count(), 22);

    for (limit, batch) in [(10, 4), (7, 7), (22, 5), (1, 1), (100, 2000)] {
        let got = keyset_read(&api, &since_literal, limit, batch).await;
        assert_eq!(got, want, "LIMIT {limit}, batchSize {batch}");
    }
    // One query, paged through nextRecordsUrl, reads the same.
    let soql = format!(
        "SELECT Id, SystemModstamp FROM Contact WHERE SystemModstamp >= {since_literal} \
         ORDER BY SystemModstamp, Id"
    );
    let (pages, _) = api.pages("queryAll", &soql, Some(4)).await;
    assert_eq!(pages[0]["totalSize"], want.len());
    let got: Vec<(String, String)> = records(&pages)
        .iter()
        .map(|r| {
            let id = r["Id"].as_str().unwrap().to_owned();
            (id, r["SystemModstamp"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(got, want);
    // query leaves the deleted one out.
    let (_, live) = api.pages("query", &soql, Some(4)).await;
    assert_eq!(live.len(), want.len() - 1);
    assert!(!live.contains(&contacts[5].to_string()));
}

#[tokio::test]
async fn count_answers_with_and_without_where() {
    let fake = serve(FakeOrg::sample()).await;
    let (org, api) = (fake.org(), Api::new(&fake));
    let contacts = ids(org, &SObject::CONTACT);
    let (status, _, page) = api.query("SELECT COUNT() FROM Contact", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        page,
        json!({"totalSize": contacts.len(), "done": true, "records": []})
    );
    let count = |soql: String, resource: &'static str| {
        let api = &api;
        async move {
            let (status, _, page) = api.query_on(resource, &soql, None).await;
            assert_eq!(status, StatusCode::OK, "{soql}: {page}");
            page["totalSize"].as_u64().unwrap()
        }
    };
    let mid = &contacts[10];
    let n = contacts.len() as u64;
    assert_eq!(
        count(
            format!("SELECT COUNT() FROM Contact WHERE Id > '{mid}'"),
            "query"
        )
        .await,
        n - 11
    );
    assert_eq!(
        count(
            format!("select count() from Contact where Id <= '{mid}' limit 4"),
            "query"
        )
        .await,
        4
    );
    let later = stamp(org.now()).replace("+0000", "Z");
    assert_eq!(
        count(
            format!("SELECT COUNT() FROM Contact WHERE SystemModstamp >= {later}"),
            "query"
        )
        .await,
        0
    );
    org.update(&SObject::CONTACT, mid, Map::new()).unwrap();
    org.delete(&SObject::CONTACT, &contacts[0]).unwrap();
    assert_eq!(
        count(
            format!("SELECT COUNT() FROM Contact WHERE SystemModstamp >= {later}"),
            "query"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            format!("SELECT COUNT() FROM Contact WHERE SystemModstamp >= {later}"),
            "queryAll"
        )
        .await,
        2
    );
    assert_eq!(
        count("SELECT COUNT() FROM Contact".into(), "query").await,
        n - 1
    );
    assert_eq!(
        count("SELECT COUNT() FROM Contact".into(), "queryAll").await,
        n
    );

    // A generated org counts a million records without making them.
    let big = serve(FakeOrg::generated(1, 1_000_000)).await;
    let api = Api::new(&big);
    let first = ids(&FakeOrg::generated(1, 3), &SObject::ACCOUNT);
    let (_, _, page) = api.query("SELECT COUNT() FROM Account", None).await;
    assert_eq!(page["totalSize"], 1_000_000);
    let soql = format!("SELECT COUNT() FROM Account WHERE Id > '{}'", first[2]);
    let (_, _, page) = api.query(&soql, None).await;
    assert_eq!(page["totalSize"], 999_997);
    assert_eq!(big.records_served(), 0, "a count carries no record");
}

#[tokio::test]
async fn generated_orgs_filter_and_sort_by_stamp() {
    let org = FakeOrg::generated(4, 2_000);
    let contacts = org.records(&SObject::CONTACT, usize::MAX);
    let mut stamps: Vec<DateTime<Utc>> = contacts.iter().map(modstamp).collect();
    stamps.sort();
    let since = stamps[stamps.len() / 2];
    let mut want: Vec<(DateTime<Utc>, String)> = contacts
        .iter()
        .filter(|r| modstamp(r) >= since)
        .map(|r| (modstamp(r), r.id().unwrap().to_string()))
        .collect();
    want.sort();
    let fake = serve(org).await;
    let api = Api::new(&fake);
    let soql = format!(
        "SELECT Id, SystemModstamp FROM Contact WHERE SystemModstamp >= {} \
         ORDER BY SystemModstamp ASC, Id ASC",
        since.format("%Y-%m-%dT%H:%M:%S%.3fZ")
    );
    let (pages, got) = api.pages("queryAll", &soql, Some(300)).await;
    assert_eq!(pages[0]["totalSize"], want.len());
    assert_eq!(got, want.iter().map(|w| w.1.clone()).collect::<Vec<_>>());
    assert_eq!(fake.records_served_of(&SObject::CONTACT), want.len() as u64);
}

#[tokio::test]
async fn malformed_where_gets_located_errors() {
    let fake = serve(FakeOrg::sample()).await;
    let api = Api::new(&fake);
    let base = "SELECT Id FROM Account WHERE ";
    let at = base.len() + 1;
    let cases = [
        (
            "SystemModstamp >= 2026-01-01T00:00:00Z AND",
            "MALFORMED_QUERY",
            base.len() + 43,
            "unexpected token: '<EOF>'",
        ),
        (
            "Id > '001000000000001AAA' AND Id < '001000000000009AAA' OR Id = '001000000000005AAA'",
            "MALFORMED_QUERY",
            at + 56,
            "unexpected token: 'OR'",
        ),
        (
            "(SystemModstamp > 2026-01-01T00:00:00Z",
            "MALFORMED_QUERY",
            base.len() + 39,
            "unexpected token: '<EOF>'",
        ),
        (
            "SystemModstamp > '2026-01-01T00:00:00Z'",
            "INVALID_FIELD",
            at + 17,
            "must be of type dateTime",
        ),
        (
            "Id > 2026-01-01T00:00:00Z",
            "INVALID_FIELD",
            at + 5,
            "must be of type id",
        ),
        (
            "Nope > 2026-01-01T00:00:00Z",
            "INVALID_FIELD",
            at,
            "No such column 'Nope' on entity 'Account'",
        ),
        (
            "Name > 'x'",
            "MALFORMED_QUERY",
            at,
            "not supported by the fake org",
        ),
        (
            "SystemModstamp >= 2026-01-01 ORDER BY Id",
            "MALFORMED_QUERY",
            at + 22,
            "unexpected token: '-'",
        ),
        (
            "IsDeleted > TRUE",
            "INVALID_QUERY_FILTER_OPERATOR",
            at,
            "boolean",
        ),
    ];
    for (filter, code, column, text) in cases {
        let soql = format!("{base}{filter}");
        let (status, _, body) = api.query(&soql, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{soql}");
        assert_eq!(body[0]["errorCode"], code, "{soql}: {body}");
        let message = body[0]["message"].as_str().unwrap();
        assert!(message.contains(text), "{soql}: {message}");
        let lines: Vec<&str> = message.split('\n').collect();
        assert_eq!(lines[1], soql);
        assert_eq!(
            lines[2],
            format!("{}^", " ".repeat(column - 1)),
            "{soql}: {message}"
        );
        assert_eq!(
            lines[3],
            format!("ERROR at Row:1:Column:{column}"),
            "{soql}"
        );
    }
    let (_, _, body) = api
        .query("SELECT Id FROM Account ORDER BY Name", None)
        .await;
    assert_eq!(body[0]["errorCode"], "MALFORMED_QUERY");
    let (_, _, body) = api.query("SELECT COUNT(Id) FROM Account", None).await;
    assert_eq!(body[0]["errorCode"], "MALFORMED_QUERY");
}
