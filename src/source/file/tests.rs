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
    // Derived from the referenceId, not the position (it was
    // `001000000000011`, the 11th record, before).
    assert_eq!(id, derive_id("001", "Account", "AccountRef11", 0));
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

/// The 15- and 18-character spellings of one id are one record: the
/// second is named in a warning with the first, and the files they came
/// from.
#[test]
fn one_id_spelled_15_and_18_characters_is_a_warning_naming_both() {
    let short = "003x0000004TmFx";
    let long = SfId::parse(short).unwrap().as_str().to_owned();
    assert_eq!(long.len(), 18);
    let source = FileSource::new()
        .add_query_json(&format!(
            r#"[{{"attributes": {{"type": "Contact"}}, "Id": "{short}", "LastName": "Short"}}]"#
        ))
        .unwrap()
        .add_query_json(&format!(
            r#"[{{"attributes": {{"type": "Contact"}}, "Id": "{long}", "LastName": "Long"}},
                {{"attributes": {{"type": "Contact"}}, "Id": "003x0000004TmFwAAK", "LastName": "Other"}}]"#
        ))
        .unwrap();
    let found: Vec<&String> = source
        .warnings()
        .iter()
        .filter(|w| w.contains(short) && w.contains(&long))
        .collect();
    assert_eq!(found.len(), 1, "{:?}", source.warnings());
    let w = found[0];
    assert!(
        w.contains("query-result file #1") && w.contains("query-result file #2"),
        "names both files: {w}"
    );
    assert!(
        w.starts_with("query-result file #2 record 1"),
        "the second: {w}"
    );
    assert_eq!(source.warnings().len(), 1, "{:?}", source.warnings());

    // Distinct ids, and one file alone, are no warning.
    let alone = FileSource::new()
        .add_query_json(&format!(
            r#"[{{"attributes": {{"type": "Contact"}}, "Id": "{long}", "LastName": "Long"}}]"#
        ))
        .unwrap();
    assert!(alone.warnings().is_empty(), "{:?}", alone.warnings());
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

/// A fresh temporary directory with these files; removed by [`TempDir`]'s
/// drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn with(files: &[(&str, &str)]) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sf-file-source-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The message of a permanent source error.
fn source_message(result: Result<FileSource>) -> String {
    let err = result.unwrap_err();
    assert!(!err.is_temporary(), "{err:?}");
    match err {
        Error::Source { message, .. } => message.into_owned(),
        other => panic!("not a source error: {other:?}"),
    }
}

const TREE_ONE: &str =
    r#"{"records": [{"attributes": {"type": "Account", "referenceId": "A1"}, "Name": "Tree"}]}"#;
const QUERY_ONE: &str = r#"{"totalSize": 1, "done": true, "records": [
    {"attributes": {"type": "Contact", "url": "/x"}, "Id": "003x0000004TmFwAAK", "LastName": "Q"}]}"#;
const CLI_QUERY: &str = r#"{"status": 0, "result": {"records": [
    {"attributes": {"type": "Contact", "url": "/x"}, "Id": "003x0000004TmFwAAK", "LastName": "Q"},
    {"attributes": {"type": "Contact", "url": "/y"}, "Id": "003x0000004TmFxAAK", "LastName": "R"}],
    "totalSize": 2, "done": true}, "warnings": []}"#;

#[test]
fn a_bom_is_stripped_from_strings() {
    let bom = |s: &str| format!("\u{feff}{s}");
    let tree = FileSource::new().add_tree_json(&bom(TREE_ONE)).unwrap();
    assert_eq!(tree.count(&SObject::ACCOUNT), 1);
    let query = FileSource::new().add_query_json(&bom(QUERY_ONE)).unwrap();
    assert_eq!(query.count(&SObject::CONTACT), 1);
    let cli = FileSource::new().add_query_json(&bom(CLI_QUERY)).unwrap();
    assert_eq!(cli.count(&SObject::CONTACT), 2);
}

#[test]
fn a_bom_is_stripped_from_files() {
    let plan = r#"[{"sobject": "Account", "files": ["Account.json"]}]"#;
    for files in [
        vec![("tree.json", format!("\u{feff}{TREE_ONE}"))],
        vec![("q.json", format!("\u{feff}{QUERY_ONE}"))],
        vec![
            ("Account-plan.json", format!("\u{feff}{plan}")),
            ("Account.json", format!("\u{feff}{TREE_ONE}")),
        ],
    ] {
        let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
        let dir = TempDir::with(&files);
        let source = FileSource::from_dir(&dir.0).unwrap_or_else(|e| panic!("{files:?}: {e}"));
        let total = source.count(&SObject::ACCOUNT) + source.count(&SObject::CONTACT);
        assert_eq!(total, 1, "{files:?}");
    }
}

#[test]
fn sf_data_query_json_output_is_read() {
    let source = FileSource::new().add_query_json(CLI_QUERY).unwrap();
    let names: Vec<String> = source
        .records(&SObject::CONTACT)
        .map(|r| r.text("LastName").unwrap().unwrap())
        .collect();
    assert_eq!(names, ["Q", "R"]);
    assert_eq!(source.objects().count(), 1);
    // From a directory too, next to a plain REST result.
    let dir = TempDir::with(&[("cli.json", CLI_QUERY), ("rest.json", QUERY_ACCOUNTS)]);
    let source = FileSource::from_dir(&dir.0).unwrap();
    assert_eq!(source.count(&SObject::CONTACT), 2);
    assert_eq!(source.count(&SObject::ACCOUNT), 6);
    assert!(source.records(&SObject::new("(unknown)")).next().is_none());
}

#[test]
fn plans_are_told_by_content_not_by_plan_in_the_name() {
    // Names containing "plan" that are not plan names: loaded as data.
    for (name, json, object, n) in [
        ("explanation.json", TREE_ONE, SObject::ACCOUNT, 1),
        ("planets.json", QUERY_ONE, SObject::CONTACT, 1),
        ("planets.json", CLI_QUERY, SObject::CONTACT, 2),
        ("airplane-data.json", TREE_ONE, SObject::ACCOUNT, 1),
    ] {
        let dir = TempDir::with(&[(name, json)]);
        let source = FileSource::from_dir(&dir.0).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(source.count(&object), n, "{name}");
    }
    // A real plan next to them: its files are loaded, the others are not.
    let dir = TempDir::with(&[
        (
            "Account-plan.json",
            r#"[{"sobject": "Account", "saveRefs": true, "files": ["Account.json"]}]"#,
        ),
        ("Account.json", TREE_ONE),
        ("planets.json", QUERY_ONE),
    ]);
    let source = FileSource::from_dir(&dir.0).unwrap();
    assert_eq!(source.count(&SObject::ACCOUNT), 1);
    assert_eq!(source.count(&SObject::CONTACT), 0);
}

#[test]
fn a_file_named_like_a_plan_that_is_not_one_is_an_error() {
    for (name, json) in [
        ("Account-plan.json", TREE_ONE),
        ("plan.json", QUERY_ONE),
        ("Account-Contact-Plan.json", "[]"),
        ("myplan.json", r#"[{"sobject": "Account"}]"#),
    ] {
        let dir = TempDir::with(&[(name, json)]);
        let message = source_message(FileSource::from_dir(&dir.0));
        assert!(message.contains(name), "{message}");
        assert!(message.contains("plan"), "{message}");
    }
}

#[test]
fn saved_error_bodies_are_errors_naming_the_file() {
    let long = "x".repeat(500);
    let long_body = format!(r#"[{{"message": "{long}", "errorCode": "UNKNOWN_EXCEPTION"}}]"#);
    for (name, json, quoted) in [
        (
            "error-invalid-field.json",
            include_str!("../../../tests/fixtures/api-responses/error-invalid-field.json"),
            "INVALID_FIELD: No such column 'foo' on sobject of type Bar",
        ),
        (
            "error-request-limit.json",
            include_str!("../../../tests/fixtures/api-responses/error-request-limit.json"),
            "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.",
        ),
        (
            "error-not-found.json",
            include_str!("../../../tests/fixtures/api-responses/error-not-found.json"),
            "NOT_FOUND: The requested resource does not exist",
        ),
        (
            "oauth.json",
            include_str!(
                "../../../tests/fixtures/api-responses/error-oauth-invalid-grant-expired-token.json"
            ),
            "invalid_grant: expired access/refresh token",
        ),
        (
            "sf-failed.json",
            r#"{"status": 1, "name": "MalformedQuery", "message": "unexpected token", "exitCode": 1}"#,
            "MalformedQuery: unexpected token",
        ),
        ("long.json", long_body.as_str(), "UNKNOWN_EXCEPTION: xxxx"),
    ] {
        // From a directory, the message names the file.
        let dir = TempDir::with(&[(name, json), ("ok.json", QUERY_ONE)]);
        let message = source_message(FileSource::from_dir(&dir.0));
        assert!(message.contains(name), "{message}");
        assert!(message.contains(quoted), "{message}");
        assert!(message.chars().count() < 400, "{message}");
        // From strings, by either add function.
        for result in [
            FileSource::new().add_query_json(json),
            FileSource::new().add_tree_json(json),
        ] {
            let message = source_message(result);
            assert!(message.contains(quoted), "{message}");
            assert!(message.contains("error"), "{message}");
        }
    }
}

#[test]
fn directories_without_loadable_json_are_errors() {
    let csv = "Id,Name\n001x0000004TmFwAAK,A\n";
    let dir = TempDir::with(&[
        ("Account.csv", csv),
        ("Contact.CSV", csv),
        ("README.txt", "export"),
    ]);
    let message = source_message(FileSource::from_dir(&dir.0));
    assert_eq!(
        message,
        format!(
            "found 2 CSV files in {}: CSV exports are not supported by FileSource yet \
             (JSON sObject Tree or query results only)",
            dir.0.display()
        )
    );
    // JSON that holds no records beside the CSV files: the same.
    let dir = TempDir::with(&[
        ("Account.csv", csv),
        (
            "empty.json",
            r#"{"totalSize": 0, "done": true, "records": []}"#,
        ),
    ]);
    let message = source_message(FileSource::from_dir(&dir.0));
    assert!(message.starts_with("found 1 CSV files in"), "{message}");
    // Nothing usable at all.
    for files in [vec![], vec![("notes.txt", "hello")]] {
        let dir = TempDir::with(&files);
        let message = source_message(FileSource::from_dir(&dir.0));
        assert!(message.contains("no JSON files"), "{message}");
        assert!(message.contains(&dir.0.display().to_string()), "{message}");
    }
}

/// An sObject Tree file of Accounts, each `(referenceId, Name)`.
fn account_tree(records: &[(&str, &str)]) -> String {
    let records: Vec<String> = records
        .iter()
        .map(|(r, name)| {
            format!(
                r#"{{"attributes": {{"type": "Account", "referenceId": "{r}"}}, "Name": "{name}"}}"#
            )
        })
        .collect();
    format!(r#"{{"records": [{}]}}"#, records.join(","))
}

/// Every Account's id by name.
fn ids_by_name(source: &FileSource) -> BTreeMap<String, SfId> {
    source
        .records(&SObject::ACCOUNT)
        .map(|r| (r.text("Name").unwrap().unwrap(), r.id().unwrap()))
        .collect()
}

#[test]
fn at_text_outside_reference_fields_is_kept_as_it_is() {
    // "Acme" is a referenceId here, so `@Acme` could have been taken for a
    // reference to it.
    let source = FileSource::new()
        .add_tree_json(
            r#"{"records": [
                {"attributes": {"type": "Account", "referenceId": "Acme"}, "Name": "Acme Corp"},
                {"attributes": {"type": "Account", "referenceId": "HD"}, "Name": "@Home Depot",
                 "Description": "@Acme"},
                {"attributes": {"type": "Contact", "referenceId": "C1"}, "LastName": "Doe",
                 "Title": "@twitterhandle", "AccountId": "@Acme"}]}"#,
        )
        .unwrap();
    assert!(source.warnings().is_empty(), "{:?}", source.warnings());
    let hd = by_name(&source, &SObject::ACCOUNT, "@Home Depot");
    assert_eq!(hd.text("Description").unwrap().as_deref(), Some("@Acme"));
    let contact = source.records(&SObject::CONTACT).next().unwrap();
    assert_eq!(
        contact.text("Title").unwrap().as_deref(),
        Some("@twitterhandle")
    );
    // The lookup still resolves.
    let acme = by_name(&source, &SObject::ACCOUNT, "Acme Corp");
    assert_eq!(
        contact.sf_id("AccountId").unwrap(),
        Some(acme.id().unwrap())
    );
}

#[test]
fn resolve_refs_false_in_a_plan_keeps_at_values_literal() {
    let contacts = r#"{"records": [{"attributes": {"type": "Contact", "referenceId": "C1"},
        "LastName": "Doe", "AccountId": "@AcmeRef"}]}"#;
    let plan = |resolve: &str| {
        format!(
            r#"[{{"sobject": "Account", "resolveRefs": true, "files": ["Account.json"]}},
               {{"sobject": "Contact", "saveRefs": true{resolve}, "files": ["Contact.json"]}}]"#
        )
    };
    let accounts = account_tree(&[("AcmeRef", "Acme")]);
    let load = |plan: &str| {
        let dir = TempDir::with(&[
            ("Account-Contact-plan.json", plan),
            ("Account.json", &accounts),
            ("Contact.json", contacts),
        ]);
        FileSource::from_dir(&dir.0).unwrap()
    };

    let literal = load(&plan(r#", "resolveRefs": false"#));
    let contact = literal.records(&SObject::CONTACT).next().unwrap();
    assert_eq!(
        contact.text("AccountId").unwrap().as_deref(),
        Some("@AcmeRef")
    );
    // Not an id: the import reports the record's AccountId as invalid.
    assert!(contact.sf_id("AccountId").is_err());
    assert!(literal.warnings().is_empty(), "{:?}", literal.warnings());

    // `true`, or no resolveRefs at all: resolved.
    for resolve in [r#", "resolveRefs": true"#, ""] {
        let resolved = load(&plan(resolve));
        let contact = resolved.records(&SObject::CONTACT).next().unwrap();
        let acme = by_name(&resolved, &SObject::ACCOUNT, "Acme");
        assert_eq!(
            contact.sf_id("AccountId").unwrap(),
            Some(acme.id().unwrap()),
            "{resolve}"
        );
    }
}

#[test]
fn inserting_a_record_at_the_top_keeps_every_other_id() {
    let before = FileSource::new()
        .add_tree_json(&account_tree(&[
            ("AlphaRef", "Alpha"),
            ("BetaRef", "Beta"),
            ("GammaRef", "Gamma"),
        ]))
        .unwrap();
    let after = FileSource::new()
        .add_tree_json(&account_tree(&[
            ("XenonRef", "Xenon"),
            ("AlphaRef", "Alpha"),
            ("BetaRef", "Beta"),
            ("GammaRef", "Gamma"),
        ]))
        .unwrap();
    let (before, after) = (ids_by_name(&before), ids_by_name(&after));
    for (name, id) in &before {
        assert_eq!(after[name], *id, "{name}");
    }
    assert!(!before.values().any(|id| *id == after["Xenon"]));
    assert_eq!(after.len(), 4);
}

#[test]
fn a_reference_id_gives_the_same_valid_id_in_every_load() {
    let accounts = account_tree(&[("AcmeRef", "Acme"), ("OtherRef", "Other")]);
    let contacts = r#"{"records": [{"attributes": {"type": "Contact", "referenceId": "C1"},
        "LastName": "Doe", "AccountId": "@AcmeRef"},
        {"attributes": {"type": "Widget__c", "referenceId": "W1"}, "Name": "w"}]}"#;
    let one = FileSource::new()
        .add_tree_json(&accounts)
        .unwrap()
        .add_tree_json(contacts)
        .unwrap();
    let two = FileSource::new()
        .add_tree_json(contacts)
        .unwrap()
        .add_tree_json(&accounts)
        .unwrap();
    assert_eq!(ids_by_name(&one), ids_by_name(&two));
    let acme = by_name(&one, &SObject::ACCOUNT, "Acme").id().unwrap();
    assert_eq!(acme, derive_id("001", "Account", "AcmeRef", 0));
    // Pinned: the derivation must not change between versions, or a
    // re-import would not find what the last one wrote.
    assert_eq!(acme.as_str(), PINNED_ACME_ID);
    for (source, object, prefix) in [
        (&one, SObject::ACCOUNT, "001"),
        (&two, SObject::CONTACT, "003"),
        (&two, SObject::new("Widget__c"), "a0X"),
    ] {
        for record in source.records(&object) {
            let id = record.id().unwrap();
            assert_eq!(id.key_prefix(), prefix);
            assert_eq!(id.as_str().len(), 18);
            assert_eq!(SfId::parse(id.as_str()).unwrap(), id);
            assert_eq!(SfId::parse(id.to_15()).unwrap(), id);
        }
    }
    let contact = |s: &FileSource| s.records(&SObject::CONTACT).next().unwrap().clone();
    assert_eq!(contact(&one).id().unwrap(), contact(&two).id().unwrap());
    assert_eq!(contact(&two).sf_id("AccountId").unwrap(), Some(acme));
}

const PINNED_ACME_ID: &str = "001uXr7boaNg12oQAB";

#[test]
fn a_record_keeps_its_own_id() {
    let source = FileSource::new()
        .add_tree_json(
            r#"{"records": [{"attributes": {"type": "Account", "referenceId": "A1"},
                "Id": "001x0000002xLCVAA2", "Name": "Own"},
                {"attributes": {"type": "Contact", "referenceId": "C1"}, "LastName": "Doe",
                 "AccountId": "@A1"}]}"#,
        )
        .unwrap();
    let own = by_name(&source, &SObject::ACCOUNT, "Own");
    assert_eq!(own.id().unwrap().as_str(), "001x0000002xLCVAA2");
    let contact = source.records(&SObject::CONTACT).next().unwrap();
    assert_eq!(contact.sf_id("AccountId").unwrap(), Some(own.id().unwrap()));
    assert!(source.warnings().is_empty(), "{:?}", source.warnings());
}

#[test]
fn the_collision_resolver_rehashes() {
    let first = derive_id("001", "Account", "R1", 0);
    let mut taken = HashSet::from([first.clone()]);
    let (id, attempt) = unique_id(&mut taken, "001", "Account", "R1");
    assert_eq!(attempt, 1);
    assert_eq!(id, derive_id("001", "Account", "R1", 1));
    assert_ne!(id, first);
    assert!(taken.contains(&id));
    // Free: attempt 0.
    let (id, attempt) = unique_id(&mut taken, "001", "Account", "R2");
    assert_eq!((id, attempt), (derive_id("001", "Account", "R2", 0), 0));
}

#[test]
fn colliding_ids_are_resolved_with_a_warning() {
    // A record whose own Id is the one R1 would get: R1 is rehashed.
    let taken = derive_id("001", "Account", "R1", 0);
    let json = format!(
        r#"{{"records": [
            {{"attributes": {{"type": "Account", "referenceId": "R1"}}, "Name": "Derived"}},
            {{"attributes": {{"type": "Account"}}, "Id": "{taken}", "Name": "Own"}}]}}"#
    );
    for _ in 0..2 {
        let source = FileSource::new().add_tree_json(&json).unwrap();
        assert_eq!(
            by_name(&source, &SObject::ACCOUNT, "Own").id().unwrap(),
            taken
        );
        let derived = by_name(&source, &SObject::ACCOUNT, "Derived").id().unwrap();
        assert_eq!(derived, derive_id("001", "Account", "R1", 1));
        let warnings = source.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("R1"), "{}", warnings[0]);
        assert!(warnings[0].contains("rehash"), "{}", warnings[0]);
        assert!(warnings[0].contains(derived.as_str()), "{}", warnings[0]);
    }
    // Two records with one referenceId: both kept, distinct ids.
    let source = FileSource::new()
        .add_tree_json(&account_tree(&[("Dup", "First"), ("Dup", "Second")]))
        .unwrap();
    let ids = ids_by_name(&source);
    assert_eq!(ids["First"], derive_id("001", "Account", "Dup", 0));
    assert_eq!(ids["Second"], derive_id("001", "Account", "Dup", 1));
    assert!(source.warnings().iter().any(|w| w.contains("rehash")));
    assert!(source.warnings().iter().any(|w| w.contains("used twice")));
}

#[test]
fn records_without_reference_ids_get_synthetic_ids_with_one_warning_per_file() {
    let source = FileSource::new()
        .add_tree_json(
            r#"{"records": [{"attributes": {"type": "Account"}, "Name": "A"},
                {"attributes": {"type": "Account"}, "Name": "B"},
                {"attributes": {"type": "Account", "referenceId": "C"}, "Name": "C"}]}"#,
        )
        .unwrap();
    assert_eq!(source.count(&SObject::ACCOUNT), 3);
    assert_eq!(
        by_name(&source, &SObject::ACCOUNT, "A")
            .id()
            .unwrap()
            .to_15(),
        "001000000000001"
    );
    let warnings = source.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("sObject Tree file #1"),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("2 record(s)"), "{}", warnings[0]);
    assert!(warnings[0].contains("re-import"), "{}", warnings[0]);
}

#[tokio::test]
async fn tree_records_are_served_in_id_order_page_by_page() {
    let names: Vec<(String, String)> = (0..15)
        .map(|i| (format!("Ref{i}"), format!("N{i}")))
        .collect();
    let refs: Vec<(&str, &str)> = names
        .iter()
        .map(|(r, n)| (r.as_str(), n.as_str()))
        .collect();
    let source = FileSource::new()
        .add_tree_json(&account_tree(&refs))
        .unwrap();
    let all: Vec<String> = source
        .records(&SObject::ACCOUNT)
        .map(|r| r.id().unwrap().to_string())
        .collect();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
    assert_eq!(all.len(), 15);
    for size in [1, 4, 15] {
        let req = PageRequest::new(SObject::ACCOUNT, vec!["Id".into()], size);
        let (ids, _, _) = drain(&source, req).await;
        assert_eq!(ids, all, "size={size}");
        // A checkpoint after the fifth id: the rest, once each.
        let after = SfId::parse(&all[4]).unwrap();
        let req = PageRequest::new(SObject::ACCOUNT, vec!["Id".into()], size).after(Some(after));
        let (ids, totals, _) = drain(&source, req).await;
        assert_eq!(ids, all[5..], "size={size}");
        assert!(totals.iter().all(|t| *t == 10));
    }
}
