//! What an incremental-sync client needs from the fake, over real
//! loopback HTTP: an org that changes while served (update, insert,
//! delete with Salesforce's cascade, undelete), queryAll with the recycle
//! bin, queries as snapshots, and a count of the records served. The
//! SOQL side is in sync_soql.rs.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use reqwest::StatusCode;
use salesforce_import::{SObject, SfId, SfRecord};
use salesforce_import_fake::FakeOrg;
use serde_json::{Map, Value, json};

mod support;
use support::*;

#[tokio::test]
async fn mutations_change_what_queries_return() {
    let fake = serve(FakeOrg::sample()).await;
    let (org, api) = (fake.org(), Api::new(&fake));
    let soql = "SELECT Id, LastName, AccountId, CreatedDate, LastModifiedDate, SystemModstamp, \
                IsDeleted FROM Contact ORDER BY Id";
    let (pages, before) = api.pages("query", soql, Some(10)).await;
    let loaded = stamp(org.now() - chrono::TimeDelta::seconds(1));
    for r in records(&pages) {
        assert_eq!(r["IsDeleted"], false, "{r}");
        assert_eq!(
            r["SystemModstamp"],
            loaded.as_str(),
            "files get stamps on load"
        );
    }
    let first = id(&before[0]);

    org.advance(Duration::from_secs(60));
    let t1 = stamp(org.now());
    org.update(
        &SObject::CONTACT,
        &first,
        fields(json!({"LastName": "Renamed", "AccountId": null})),
    )
    .unwrap();
    let one = format!(
        "SELECT Id, LastName, AccountId, LastModifiedDate, SystemModstamp FROM Contact \
         WHERE Id = '{first}'"
    );
    let (_, _, page) = api.query(&one, None).await;
    let r = &page["records"][0];
    assert_eq!(page["totalSize"], 1);
    assert_eq!(r["LastName"], "Renamed");
    assert!(r["AccountId"].is_null());
    assert_eq!(
        (&r["LastModifiedDate"], &r["SystemModstamp"]),
        (&json!(t1), &json!(t1))
    );

    let account = ids(org, &SObject::ACCOUNT)[0].clone();
    let new = org
        .insert(
            &SObject::CONTACT,
            fields(json!({"LastName": "Hopper", "AccountId": account.as_str()})),
        )
        .unwrap();
    let (pages, after) = api.pages("query", soql, Some(10)).await;
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(after.last().unwrap(), new.as_str(), "a new id sorts last");
    let inserted = records(&pages).pop().unwrap();
    assert_eq!(inserted["LastName"], "Hopper");
    assert_eq!(inserted["AccountId"], account.as_str());
    assert_eq!(inserted["CreatedDate"], t1.as_str());
    assert_eq!(inserted["IsDeleted"], false);
    assert_eq!(
        inserted["attributes"]["url"],
        format!(
            "/services/data/v{}/sobjects/Contact/{new}",
            fake.api_version()
        )
    );

    org.advance(Duration::from_secs(60));
    let t2 = stamp(org.now());
    let deleted = org.delete(&SObject::CONTACT, &first).unwrap();
    assert_eq!(
        deleted,
        [(SObject::CONTACT, first.clone())],
        "no cascade from a contact"
    );
    let (_, live) = api.pages("query", soql, Some(10)).await;
    assert_eq!(live.len(), before.len());
    assert!(
        !live.contains(&first.to_string()),
        "query leaves the recycle bin out"
    );
    let (pages, all) = api.pages("queryAll", soql, Some(10)).await;
    assert_eq!(all.len(), before.len() + 1);
    for r in records(&pages) {
        let is_first = r["Id"] == first.as_str();
        assert_eq!(r["IsDeleted"], is_first, "{r}");
        if is_first {
            assert_eq!(r["SystemModstamp"], t2.as_str());
            assert_eq!(
                r["LastModifiedDate"],
                t1.as_str(),
                "a delete keeps the values"
            );
            assert_eq!(r["LastName"], "Renamed");
        }
    }
    let bin = "SELECT Id FROM Contact WHERE IsDeleted = TRUE";
    let (_, binned) = api.pages("queryAll", bin, None).await;
    assert_eq!(binned, [first.to_string()]);
    let (_, binned) = api.pages("query", bin, None).await;
    assert!(binned.is_empty());
    assert!(!org.all_records(&SObject::CONTACT).is_empty());
    assert_eq!(
        org.all_records(&SObject::CONTACT).len() as u64,
        org.count(&SObject::CONTACT) + 1
    );

    org.advance(Duration::from_secs(60));
    org.undelete(&SObject::CONTACT, &first).unwrap();
    let (_, _, page) = api.query(&one, None).await;
    assert_eq!(page["records"][0]["SystemModstamp"], stamp(org.now()));
    assert_eq!(api.pages("query", soql, None).await.1, after);

    // What the org refuses.
    let gone = org.delete(&SObject::CONTACT, &new).unwrap();
    assert_eq!(gone.len(), 1);
    let nope = id("003000000000999AAA");
    let refusals = [
        org.update(&SObject::CONTACT, &new, Map::new()).err(),
        org.delete(&SObject::CONTACT, &new).err(),
        org.undelete(&SObject::CONTACT, &first).err(),
        org.update(&SObject::CONTACT, &nope, Map::new()).err(),
        org.update(&SObject::CONTACT, &first, fields(json!({"Foo": 1})))
            .err(),
        org.update(
            &SObject::CONTACT,
            &first,
            fields(json!({"SystemModstamp": t1})),
        )
        .err(),
        org.insert(&SObject::new("Nope__c"), Map::new()).err(),
    ];
    for (i, refused) in refusals.into_iter().enumerate() {
        let e = refused.unwrap_or_else(|| panic!("refusal {i} was accepted"));
        assert!(
            matches!(e, salesforce_import::Error::Config { .. }),
            "{i}: {e}"
        );
    }
    let generated = FakeOrg::generated(1, 10);
    let account = ids(&generated, &SObject::ACCOUNT)[0].clone();
    let e = generated
        .update(&SObject::ACCOUNT, &account, Map::new())
        .unwrap_err();
    assert!(e.to_string().contains("generated_materialized"), "{e}");
    assert!(generated.insert(&SObject::ACCOUNT, Map::new()).is_err());
}

/// What deleting `account` must delete, from the org as it is.
fn expected_cascade(org: &FakeOrg, account: &SfId) -> BTreeSet<(SObject, SfId)> {
    let children = |object: SObject, field: &str, parents: &HashSet<SfId>| -> HashSet<SfId> {
        org.records(&object, usize::MAX)
            .iter()
            .filter(|r| {
                r.sf_id(field)
                    .unwrap()
                    .is_some_and(|p| parents.contains(&p))
            })
            .map(|r| r.id().unwrap())
            .collect()
    };
    let accounts = HashSet::from([account.clone()]);
    let contacts = children(SObject::CONTACT, "AccountId", &accounts);
    let opportunities = children(SObject::OPPORTUNITY, "AccountId", &accounts);
    let orders = children(SObject::ORDER, "AccountId", &accounts);
    let quotes = children(SObject::QUOTE, "OpportunityId", &opportunities);
    let lines = children(SObject::QUOTE_LINE_ITEM, "QuoteId", &quotes);
    let items = children(SObject::ORDER_ITEM, "OrderId", &orders);
    [
        (SObject::ACCOUNT, accounts),
        (SObject::CONTACT, contacts),
        (SObject::OPPORTUNITY, opportunities),
        (SObject::ORDER, orders),
        (SObject::QUOTE, quotes),
        (SObject::QUOTE_LINE_ITEM, lines),
        (SObject::ORDER_ITEM, items),
    ]
    .into_iter()
    .flat_map(|(o, ids)| ids.into_iter().map(move |i| (o.clone(), i)))
    .collect()
}

#[tokio::test]
async fn deleting_an_account_cascades_like_salesforce() {
    let org = FakeOrg::generated_materialized(3, 200);
    let accounts = ids(&org, &SObject::ACCOUNT);
    let account = accounts[10].clone();
    // Give the account one of everything, whatever the generator chose.
    let wire = |object: &SObject, record: &SfId, field: &str, to: &SfId| {
        org.update(object, record, fields(json!({field: to.as_str()})))
            .unwrap();
    };
    let child_accounts = [accounts[20].clone(), accounts[30].clone()];
    for child in &child_accounts {
        wire(&SObject::ACCOUNT, child, "ParentId", &account);
    }
    let contact = ids(&org, &SObject::CONTACT)[0].clone();
    wire(&SObject::CONTACT, &contact, "AccountId", &account);
    let opportunity = ids(&org, &SObject::OPPORTUNITY)[0].clone();
    wire(&SObject::OPPORTUNITY, &opportunity, "AccountId", &account);
    let quote = ids(&org, &SObject::QUOTE)[0].clone();
    wire(&SObject::QUOTE, &quote, "OpportunityId", &opportunity);
    let order = ids(&org, &SObject::ORDER)[0].clone();
    wire(&SObject::ORDER, &order, "AccountId", &account);
    // A quote of another opportunity, for a contact that goes: it stays,
    // its ContactId cleared.
    let other_quote = ids(&org, &SObject::QUOTE)[1].clone();
    let other_opportunity = org
        .records(&SObject::OPPORTUNITY, usize::MAX)
        .into_iter()
        .find(|o| o.sf_id("AccountId").unwrap().as_ref() != Some(&account))
        .unwrap()
        .id()
        .unwrap();
    wire(&SObject::QUOTE, &other_quote, "ContactId", &contact);
    wire(
        &SObject::QUOTE,
        &other_quote,
        "OpportunityId",
        &other_opportunity,
    );
    let wired = stamp(org.now());

    let want = expected_cascade(&org, &account);
    org.advance(Duration::from_secs(3600));
    let now = stamp(org.now());
    let fake = serve(org).await;
    let org = fake.org();
    let deleted = org.delete(&SObject::ACCOUNT, &account).unwrap();
    assert_eq!(
        deleted[0],
        (SObject::ACCOUNT, account.clone()),
        "the record first"
    );
    let got: BTreeSet<(SObject, SfId)> = deleted.iter().cloned().collect();
    assert_eq!(got.len(), deleted.len(), "each record once");
    assert_eq!(got, want);
    for object in [
        SObject::CONTACT,
        SObject::OPPORTUNITY,
        SObject::QUOTE,
        SObject::QUOTE_LINE_ITEM,
        SObject::ORDER,
        SObject::ORDER_ITEM,
    ] {
        assert!(
            got.iter().any(|(o, _)| *o == object),
            "the cascade reaches {object}"
        );
    }
    assert!(got.contains(&(SObject::QUOTE, quote.clone())));
    assert!(got.contains(&(SObject::ORDER, order.clone())));

    // Over HTTP: the recycle bin holds exactly the cascade, stamped now.
    let api = Api::new(&fake);
    for object in SObject::STANDARD
        .iter()
        .chain([&SObject::new("Pricebook2")])
    {
        let soql = format!(
            "SELECT Id, IsDeleted, SystemModstamp FROM {object} WHERE IsDeleted = TRUE ORDER BY Id"
        );
        let (pages, binned) = api.pages("queryAll", &soql, Some(50)).await;
        let want: Vec<String> = want
            .iter()
            .filter(|(o, _)| o == object)
            .map(|(_, i)| i.to_string())
            .collect();
        assert_eq!(binned, want, "{object}");
        assert!(
            records(&pages)
                .iter()
                .all(|r| r["SystemModstamp"] == now.as_str())
        );
        let count = format!("SELECT COUNT() FROM {object}");
        let (_, _, live) = api.query_on("query", &count, None).await;
        let (_, _, all) = api.query_on("queryAll", &count, None).await;
        let live = live["totalSize"].as_u64().unwrap();
        assert_eq!(all["totalSize"].as_u64().unwrap(), live + want.len() as u64);
        assert_eq!(live, org.count(object));
    }
    let soql = "SELECT Id, ParentId, LastModifiedDate, SystemModstamp FROM Account \
                WHERE SystemModstamp = ";
    let (pages, touched) = api
        .pages(
            "query",
            &format!("{soql}{}", now.replace("+0000", "Z")),
            None,
        )
        .await;
    for child in &child_accounts {
        assert!(touched.contains(&child.to_string()), "{child} was touched");
    }
    for r in records(&pages) {
        assert!(r["ParentId"].is_null(), "{r}");
        assert_ne!(
            r["LastModifiedDate"],
            now.as_str(),
            "only SystemModstamp moves"
        );
        if child_accounts.iter().any(|c| r["Id"] == c.as_str()) {
            assert_eq!(r["LastModifiedDate"], wired.as_str());
        }
    }
    let (_, _, page) = api
        .query(
            &format!("SELECT ContactId, SystemModstamp FROM Quote WHERE Id = '{other_quote}'"),
            None,
        )
        .await;
    assert!(page["records"][0]["ContactId"].is_null());
    assert_eq!(page["records"][0]["SystemModstamp"], now.as_str());

    // No record that stays names a deleted one.
    let gone: HashSet<String> = want.iter().map(|(_, i)| i.to_string()).collect();
    for object in org.objects() {
        for record in org.records(&object, usize::MAX) {
            for field in record.field_names().filter(|f| *f != "Id") {
                if let Some(Value::String(s)) = record.value(field) {
                    assert!(!gone.contains(&s), "{object} {field} names deleted {s}");
                }
            }
        }
    }
}

#[tokio::test]
async fn a_query_is_a_snapshot_of_matches_rendered_when_served() {
    let fake = serve(FakeOrg::sample()).await;
    let (org, api) = (fake.org(), Api::new(&fake));
    let soql = "SELECT Id, LastName FROM Contact ORDER BY Id";
    let (_, _, first) = api.query(soql, Some(5)).await;
    let total = first["totalSize"].as_u64().unwrap();
    let contacts = ids(org, &SObject::CONTACT);
    // Changed after the query started: a record of page 2, a new one, a
    // deleted one.
    org.update(
        &SObject::CONTACT,
        &contacts[6],
        fields(json!({"LastName": "Later"})),
    )
    .unwrap();
    let new = org
        .insert(&SObject::CONTACT, fields(json!({"LastName": "New"})))
        .unwrap();
    org.delete(&SObject::CONTACT, &contacts[7]).unwrap();
    let mut next = first["nextRecordsUrl"].as_str().map(str::to_owned);
    let mut rest = Vec::new();
    while let Some(url) = next {
        let (status, _, page) = api.get_url(&url, Some(5)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["totalSize"], total, "totalSize is the snapshot's");
        next = page["nextRecordsUrl"].as_str().map(str::to_owned);
        rest.extend(page["records"].as_array().unwrap().clone());
    }
    assert_eq!(
        rest.len() as u64,
        total - 5,
        "the snapshot's records, no more"
    );
    // The sample org spells some ids in 15 characters.
    let id_of = |r: &Value| id(r["Id"].as_str().unwrap());
    assert_eq!(id_of(&rest[1]), contacts[6]);
    assert_eq!(
        rest[1]["LastName"], "Later",
        "values as they are when served"
    );
    assert_eq!(
        id_of(&rest[2]),
        contacts[7],
        "matched when the query started"
    );
    assert!(rest.iter().all(|r| id_of(r) != new));
}

#[tokio::test]
async fn records_served_counts_what_pages_carry() {
    let fake = serve(FakeOrg::sample()).await;
    let (org, api) = (fake.org(), Api::new(&fake));
    let contacts = org.count(&SObject::CONTACT);
    api.pages("query", "SELECT Id FROM Contact ORDER BY Id", Some(7))
        .await;
    assert_eq!(fake.records_served_of(&SObject::CONTACT), contacts);
    api.query("SELECT Id FROM Account ORDER BY Id LIMIT 3", None)
        .await;
    api.query("SELECT COUNT() FROM Account", None).await;
    api.query("SELECT Id FROM Account WHERE", None).await;
    assert_eq!(fake.records_served_of(&SObject::ACCOUNT), 3);
    assert_eq!(fake.records_served(), contacts + 3);

    // A sync after two changes reads those two.
    let since = org.now();
    let changed: Vec<SfRecord> = org.records(&SObject::CONTACT, 2);
    for r in &changed {
        org.update(&SObject::CONTACT, &r.id().unwrap(), Map::new())
            .unwrap();
    }
    let soql = format!(
        "SELECT Id FROM Contact WHERE SystemModstamp >= {} ORDER BY SystemModstamp, Id",
        since.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let (_, read) = api.pages("queryAll", &soql, None).await;
    assert_eq!(read.len(), 2);
    assert_eq!(fake.records_served_of(&SObject::CONTACT), contacts + 2);
    assert_eq!(
        fake.records_served_of(&SObject::new("contact")),
        contacts + 2
    );
    let by_object: HashMap<&str, u64> = HashMap::from([("Contact", contacts + 2), ("Account", 3)]);
    assert_eq!(fake.records_served(), by_object.values().sum::<u64>());
}
