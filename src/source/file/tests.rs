use std::error::Error as _;

use super::*;

const SELF_REF: &str =
    include_str!("../../../tests/fixtures/tree/plugin-data/self-referencing/Account.json");
const MISSING_ACCOUNTS: &str =
    include_str!("../../../tests/fixtures/tree/plugin-data/missingRef/Account.json");
const MISSING_OPPS: &str =
    include_str!("../../../tests/fixtures/tree/plugin-data/missingRef/Opportunity.json");
const NESTED: &str =
    include_str!("../../../tests/fixtures/tree/plugin-data/accounts-contacts-tree.json");
const QUERY_ACCOUNTS: &str =
    include_str!("../../../tests/fixtures/api-responses/query-account-records.json");

fn fixtures_dir(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn tenant() -> TenantId {
    TenantId::new("t")
}

fn by_name<'a>(source: &'a FileSource, object: &SObject, name: &str) -> &'a SfRecord {
    source
        .records(object)
        .find(|r| r.text("Name").unwrap().as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no {object} named {name}"))
}

async fn fetch(source: &FileSource, req: &PageRequest) -> Page {
    source.fetch_page(&tenant(), req).await.unwrap()
}

/// Reads every page and returns the ids served and the total of each page.
async fn drain(source: &FileSource, mut req: PageRequest) -> (Vec<String>, Vec<u64>, usize) {
    let (mut ids, mut totals, mut pages) = (Vec::new(), Vec::new(), 0);
    loop {
        let page = fetch(source, &req).await;
        pages += 1;
        assert!(page.records.len() <= req.page_size);
        ids.extend(page.records.iter().map(|r| r.id().unwrap().to_string()));
        totals.push(page.total_size.unwrap());
        match page.next {
            Some(next) => req = req.cursor(Some(next)),
            None => return (ids, totals, pages),
        }
        assert!(pages < 1000, "paging does not end");
    }
}

#[test]
fn tree_records_get_synthetic_ids_from_key_prefixes() {
    let source = FileSource::new().add_tree_json(SELF_REF).unwrap();
    assert_eq!(source.count(&SObject::ACCOUNT), 12);
    let first = by_name(&source, &SObject::ACCOUNT, "Original");
    let id = first.id().unwrap();
    assert_eq!(id.key_prefix(), "001");
    assert_eq!(id.as_str().len(), 18);
    assert_eq!(id.to_15(), "001000000000011");
    assert_eq!(first.reference_id().as_deref(), Some("AccountRef11"));
    assert!(source.warnings().is_empty());
}

#[test]
fn self_and_forward_references_resolve() {
    let source = FileSource::new().add_tree_json(SELF_REF).unwrap();
    let grandchild = by_name(&source, &SObject::ACCOUNT, "Grandchild");
    let child = by_name(&source, &SObject::ACCOUNT, "Child");
    let original = by_name(&source, &SObject::ACCOUNT, "Original");
    // Grandchild (record 5) names Child (record 10), a forward reference.
    assert_eq!(
        grandchild.sf_id("ParentId").unwrap(),
        Some(child.id().unwrap())
    );
    assert_eq!(
        child.sf_id("ParentId").unwrap(),
        Some(original.id().unwrap())
    );
    assert_eq!(original.text("ParentId").unwrap(), None);
}

#[test]
fn references_resolve_across_files_in_either_order() {
    let opps_first = FileSource::new()
        .add_tree_json(
            MISSING_OPPS
                .replace("AccountRef2000", "AccountRef2")
                .as_str(),
        )
        .unwrap()
        .add_tree_json(MISSING_ACCOUNTS)
        .unwrap();
    let opp = opps_first.records(&SObject::OPPORTUNITY).next().unwrap();
    let account = by_name(&opps_first, &SObject::ACCOUNT, "Other Test Account");
    assert_eq!(opp.sf_id("AccountId").unwrap(), Some(account.id().unwrap()));
    assert!(opps_first.warnings().is_empty());
}

#[test]
fn missing_references_become_null_with_a_warning() {
    let source = FileSource::new()
        .add_tree_json(MISSING_ACCOUNTS)
        .unwrap()
        .add_tree_json(MISSING_OPPS)
        .unwrap();
    let opp = source.records(&SObject::OPPORTUNITY).next().unwrap();
    assert_eq!(opp.text("AccountId").unwrap(), None);
    // The rest of the record is kept.
    assert_eq!(
        opp.text("Name").unwrap().as_deref(),
        Some("Oppty With Bad Ref")
    );
    let warnings = source.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("OpportunityRef1"), "{}", warnings[0]);
    assert!(warnings[0].contains("AccountId"), "{}", warnings[0]);
    assert!(warnings[0].contains("@AccountRef2000"), "{}", warnings[0]);
}

#[test]
fn nested_children_are_flattened_with_the_parent_lookup() {
    let source = FileSource::new().add_tree_json(NESTED).unwrap();
    assert_eq!(source.count(&SObject::ACCOUNT), 2);
    assert_eq!(source.count(&SObject::CONTACT), 2);
    let parent = by_name(&source, &SObject::ACCOUNT, "SampleAccount");
    assert!(parent.value("Contacts").is_none());
    for contact in source.records(&SObject::CONTACT) {
        assert_eq!(contact.id().unwrap().key_prefix(), "003");
        assert_eq!(
            contact.sf_id("AccountId").unwrap(),
            Some(parent.id().unwrap())
        );
    }
    let smith = source
        .records(&SObject::CONTACT)
        .find(|c| c.text("lastname").unwrap().as_deref() == Some("Smith"))
        .unwrap();
    assert_eq!(smith.reference_id().as_deref(), Some("PresidentSmithRef"));
}

#[test]
fn other_objects_use_the_custom_prefix() {
    let source = FileSource::new()
        .add_tree_json(
            r#"{"records": [{"attributes": {"type": "Widget__c", "referenceId": "W1"}, "Name": "w"},
            {"attributes": {"type": "QuoteLineItem", "referenceId": "Q1"}}]}"#,
        )
        .unwrap();
    let w = source.records(&SObject::new("Widget__c")).next().unwrap();
    assert_eq!(w.id().unwrap().key_prefix(), "a0X");
    let q = source.records(&SObject::QUOTE_LINE_ITEM).next().unwrap();
    assert_eq!(q.id().unwrap().key_prefix(), "0QL");
}

#[test]
fn query_results_keep_their_ids() {
    let source = FileSource::new().add_query_json(QUERY_ACCOUNTS).unwrap();
    assert_eq!(source.count(&SObject::ACCOUNT), 6);
    let ids: Vec<String> = source
        .records(&SObject::ACCOUNT)
        .map(|r| r.id().unwrap().to_string())
        .collect();
    assert_eq!(ids[0], "001Da00000xnAiKIAU");
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

#[test]
fn bare_arrays_and_15_char_ids_are_read_and_sorted_by_the_18_char_form() {
    let source = FileSource::new()
        .add_query_json(
            r#"[{"attributes": {"type": "Contact"}, "Id": "003x0000004TmFx", "LastName": "B"},
                {"attributes": {"type": "Contact"}, "Id": "003x0000004TmFwAAK", "LastName": "A"},
                {"attributes": {"type": "Contact"}, "Id": "not-an-id", "LastName": "Bad"}]"#,
        )
        .unwrap();
    // The invalid one is still served, so the engine can report it.
    assert_eq!(source.count(&SObject::CONTACT), 3);
    let names: Vec<String> = source
        .records(&SObject::CONTACT)
        .map(|r| r.text("LastName").unwrap().unwrap())
        .collect();
    assert_eq!(names, ["A", "B", "Bad"]);
    let b = source.records(&SObject::CONTACT).nth(1).unwrap();
    assert_eq!(b.id().unwrap().as_str().len(), 18);
}

#[test]
fn malformed_json_is_a_source_error_with_the_serde_cause() {
    for result in [
        FileSource::new().add_tree_json("{\"records\": [ oops"),
        FileSource::new().add_query_json("{\"records\": [ oops"),
        FileSource::new().add_query_json("{\"records\": 3}"),
    ] {
        let err = result.unwrap_err();
        let Error::Source { message, .. } = &err else {
            panic!("not a source error: {err:?}");
        };
        assert!(message.contains("JSON"), "{message}");
        let cause = err.source().expect("keeps the cause");
        assert!(
            cause.downcast_ref::<serde_json::Error>().is_some(),
            "{cause:?}"
        );
    }
}

#[test]
fn from_dir_follows_the_plan() {
    let source = FileSource::from_dir(fixtures_dir("tree/plugin-data/missingRef")).unwrap();
    assert_eq!(source.count(&SObject::ACCOUNT), 2);
    assert_eq!(source.count(&SObject::OPPORTUNITY), 1);
    assert_eq!(source.warnings().len(), 1);
    let source = FileSource::from_dir(fixtures_dir("tree/plugin-data/self-referencing")).unwrap();
    assert_eq!(source.count(&SObject::ACCOUNT), 12);
}

#[test]
fn from_dir_without_a_plan_detects_each_file() {
    let dir = std::env::temp_dir().join(format!("sf-file-source-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("accounts.json"), QUERY_ACCOUNTS).unwrap();
    std::fs::write(dir.join("tree.json"), NESTED).unwrap();
    std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
    let source = FileSource::from_dir(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    let source = source.unwrap();
    assert_eq!(source.count(&SObject::ACCOUNT), 8);
    assert_eq!(source.count(&SObject::CONTACT), 2);
    assert!(FileSource::from_dir(dir.join("gone")).is_err());
}

fn accounts(n: usize) -> FileSource {
    let records: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"attributes": {{"type": "Account"}}, "Id": "{}", "Name": "A{i}", "Phone": "1"}}"#,
                SfId::parse(&format!("001x{i:011}")).unwrap()
            )
        })
        .rev()
        .collect();
    FileSource::new()
        .add_query_json(&format!("[{}]", records.join(",")))
        .unwrap()
}

#[tokio::test]
async fn pages_cover_every_record_once_in_order() {
    for n in [0, 1, 2, 7, 10, 14] {
        let source = accounts(n);
        let all: Vec<String> = source
            .records(&SObject::ACCOUNT)
            .map(|r| r.id().unwrap().to_string())
            .collect();
        for size in [1, 2, 7] {
            let req = PageRequest::new(SObject::ACCOUNT, vec!["Id".into()], size);
            let (ids, totals, pages) = drain(&source, req).await;
            assert_eq!(ids, all, "n={n} size={size}");
            assert!(totals.iter().all(|t| *t == n as u64));
            assert_eq!(pages, n.div_ceil(size).max(1), "n={n} size={size}");

            // With `after`: only later records, and totals count only them.
            if n >= 3 {
                let after = SfId::parse(&all[2]).unwrap();
                let req =
                    PageRequest::new(SObject::ACCOUNT, vec!["Id".into()], size).after(Some(after));
                let (ids, totals, _) = drain(&source, req).await;
                assert_eq!(ids, all[3..], "n={n} size={size}");
                assert!(totals.iter().all(|t| *t == (n - 3) as u64));
            }
        }
    }
}

#[tokio::test]
async fn after_the_last_id_or_an_unknown_object_is_an_empty_last_page() {
    let source = accounts(3);
    let last = source
        .records(&SObject::ACCOUNT)
        .last()
        .unwrap()
        .id()
        .unwrap();
    let req = PageRequest::new(SObject::ACCOUNT, vec!["Id".into()], 2).after(Some(last));
    let page = fetch(&source, &req).await;
    assert!(page.records.is_empty() && page.next.is_none());
    assert_eq!(page.total_size, Some(0));
    let page = fetch(
        &source,
        &PageRequest::new(SObject::QUOTE, vec!["Id".into()], 2),
    )
    .await;
    assert!(page.records.is_empty() && page.next.is_none());
}

#[tokio::test]
async fn page_size_zero_is_a_config_error() {
    let req = PageRequest::new(SObject::ACCOUNT, vec!["Id".into()], 0);
    let err = accounts(1).fetch_page(&tenant(), &req).await.unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
}

#[tokio::test]
async fn records_are_projected_to_the_requested_fields() {
    let source = FileSource::new()
        .add_query_json(
            r#"[{"attributes": {"type": "PricebookEntry"}, "Id": "01u5g00000000VeAAI", "UnitPrice": 1300.10,
                 "Product2Id": "01t5g00000000US", "IsActive": true,
                 "Pricebook2": {"attributes": {"type": "Pricebook2"}, "IsStandard": true}}]"#,
        )
        .unwrap();
    let req = PageRequest::new(
        SObject::PRICEBOOK_ENTRY,
        vec![
            "Id".into(),
            "unitprice".into(),
            "Pricebook2.IsStandard".into(),
        ],
        5,
    );
    let page = fetch(&source, &req).await;
    let rec = &page.records[0];
    let mut names: Vec<&str> = rec.field_names().collect();
    names.sort();
    assert_eq!(names, ["Id", "Pricebook2", "UnitPrice"]);
    assert_eq!(rec.object(), Some(SObject::PRICEBOOK_ENTRY));
    assert_eq!(rec.boolean("Pricebook2.IsStandard").unwrap(), Some(true));
    assert_eq!(
        rec.decimal("UnitPrice").unwrap(),
        Some("1300.10".parse().unwrap())
    );
    // The source keeps the whole record.
    assert_eq!(
        source
            .records(&SObject::PRICEBOOK_ENTRY)
            .next()
            .unwrap()
            .field_names()
            .count(),
        5
    );
}

#[test]
fn sample_org_loads() {
    let org = FileSource::sample_org();
    assert!(org.warnings().is_empty());
    for object in SObject::STANDARD {
        assert!(org.count(&object) > 0, "{object}");
    }
}

#[test]
fn tree_numbers_keep_every_digit() {
    let src = FileSource::new()
        .add_tree_json(
            r#"{"records": [{"attributes": {"type": "Account", "referenceId": "A1"},
                "Name": "Big", "AnnualRevenue": 1234567890123456.78}]}"#,
        )
        .unwrap();
    let rec = src.records(&SObject::ACCOUNT).next().unwrap();
    assert_eq!(
        rec.decimal("AnnualRevenue").unwrap().unwrap().to_string(),
        "1234567890123456.78"
    );
}
