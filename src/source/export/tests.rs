use std::io::Write;
use std::path::{Path, PathBuf};

use super::scan::{Entry, MARK_EVERY, Order};
use super::*;
use crate::error::Problem;
use crate::record::SfRecord;
use crate::source::Cursor;

/// A folder of its own, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let n = SCRATCH_DIRS.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("export-unit-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn write(&self, name: &str, text: &str) -> &Dir {
        std::fs::write(self.0.join(name), text).unwrap();
        self
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tenant() -> TenantId {
    TenantId::new("t")
}

/// The 18-character id `<prefix>` + n.
fn id(prefix: &str, n: u64) -> String {
    SfId::parse(&format!("{prefix}{n:012}"))
        .unwrap()
        .as_str()
        .to_owned()
}

fn request(object: SObject, fields: &[&str], page_size: usize) -> PageRequest {
    PageRequest::new(
        object,
        fields.iter().map(|f| (*f).to_owned()).collect(),
        page_size,
    )
}

/// Every page of a read: the records, the warnings, and each page's size.
async fn read_all(
    source: &ExportSource,
    first: PageRequest,
) -> (Vec<SfRecord>, Vec<FieldError>, Vec<usize>) {
    let (mut records, mut warnings, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
    let mut req = first.clone();
    loop {
        let page = source.fetch_page(&tenant(), &req).await.unwrap();
        assert!(
            page.records.len() <= req.page_size,
            "a page of {} records for page_size {}",
            page.records.len(),
            req.page_size
        );
        sizes.push(page.records.len());
        records.extend(page.records);
        warnings.extend(page.warnings);
        match page.next {
            Some(next) => req = first.clone().cursor(Some(next)),
            None => break,
        }
        assert!(sizes.len() < 10_000, "the read does not end");
    }
    (records, warnings, sizes)
}

fn ids_of(records: &[SfRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| r.id().unwrap().as_str().to_owned())
        .collect()
}

/// `Account.csv` with `n` rows in the order `order` gives (Ids 1..=n).
fn accounts(n: u64, order: impl Fn(u64) -> u64) -> String {
    let mut csv = String::from("\"Id\",\"Name\",\"IsDeleted\"\n");
    for i in 0..n {
        let k = order(i) + 1;
        csv.push_str(&format!("\"{}\",\"Account {k}\",\"false\"\n", id("001", k)));
    }
    csv
}

fn prepared(source: &ExportSource, object: &SObject) -> Arc<Prepared> {
    source.inner.prepared(object).unwrap()
}

#[tokio::test]
async fn bom_quotes_newlines_commas_and_empty_as_null() {
    let dir = Dir::new("quoting");
    dir.write(
        "Account.csv",
        &format!(
            "\u{feff}\"Id\",\"Name\",\"Description\",\"Phone\",\"AnnualRevenue\"\n\
             \"{}\",\"Acme, \"\"the\"\" one\",\"line one\nline two, with a comma\",\"\",\"999999999999999999.99\"\n\
             \"{}\",Plain,,\"555\",\n",
            id("001", 1),
            id("001", 2)
        ),
    );
    let source = ExportSource::open(dir.path()).unwrap();
    let req = request(
        SObject::ACCOUNT,
        &["Id", "Name", "Description", "Phone", "AnnualRevenue"],
        10,
    );
    let (records, warnings, _) = read_all(&source, req).await;
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(ids_of(&records), [id("001", 1), id("001", 2)]);
    let a = &records[0];
    assert_eq!(a.object(), Some(SObject::ACCOUNT));
    assert_eq!(
        a.text("Name").unwrap().as_deref(),
        Some("Acme, \"the\" one")
    );
    assert_eq!(
        a.text("Description").unwrap().as_deref(),
        Some("line one\nline two, with a comma")
    );
    assert_eq!(a.raw_field("Phone"), Some("null"), "empty is null");
    assert_eq!(
        a.decimal("AnnualRevenue").unwrap().unwrap().to_string(),
        "999999999999999999.99",
        "every digit kept"
    );
    let b = &records[1];
    assert_eq!(b.text("Name").unwrap().as_deref(), Some("Plain"));
    assert_eq!(b.raw_field("Description"), Some("null"));
    assert_eq!(b.raw_field("AnnualRevenue"), Some("null"));
    assert_eq!(b.text("Phone").unwrap().as_deref(), Some("555"));
}

#[tokio::test]
async fn without_a_bom_the_same_file_reads_the_same() {
    let text = format!("\"Id\",\"Name\"\n\"{}\",\"Acme\"\n", id("001", 1));
    let with = Dir::new("bom-with");
    with.write("Account.csv", &format!("\u{feff}{text}"));
    let without = Dir::new("bom-without");
    without.write("Account.csv", &text);
    let req = request(SObject::ACCOUNT, &["Id", "Name"], 10);
    let mut seen = Vec::new();
    for dir in [&with, &without] {
        let source = ExportSource::open(dir.path()).unwrap();
        let (records, warnings, _) = read_all(&source, req.clone()).await;
        assert!(warnings.is_empty(), "{warnings:?}");
        seen.push(serde_json::to_string(&records).unwrap());
    }
    assert_eq!(seen[0], seen[1]);
    assert!(seen[0].contains("\"Name\":\"Acme\""), "{}", seen[0]);
}

#[tokio::test]
async fn dates_and_datetimes_in_every_spelling() {
    let dir = Dir::new("dates");
    dir.write(
        "Opportunity.csv",
        &format!(
            "Id,CloseDate,CreatedDate,SystemModstamp,Name\n\
             {},2024-01-31,2024-01-31T10:00:00.000Z,2024-01-31 10:00:00,2024-01-31 10:00:00\n\
             {},2024-02-29,2024-01-31T12:00:00.000+0200,2024-01-31T10:00:00Z,x\n",
            id("006", 1),
            id("006", 2)
        ),
    );
    let source = ExportSource::open(dir.path()).unwrap();
    let req = request(
        SObject::OPPORTUNITY,
        &["Id", "CloseDate", "CreatedDate", "SystemModstamp", "Name"],
        10,
    );
    let (records, warnings, _) = read_all(&source, req).await;
    assert!(warnings.is_empty(), "{warnings:?}");
    let ten = "2024-01-31T10:00:00+00:00";
    for r in &records {
        assert_eq!(
            r.datetime("CreatedDate").unwrap().unwrap().to_rfc3339(),
            ten
        );
        assert_eq!(r.modstamp().unwrap().to_rfc3339(), ten);
    }
    assert_eq!(
        records[0].date("CloseDate").unwrap().unwrap().to_string(),
        "2024-01-31"
    );
    assert_eq!(
        records[1].date("CloseDate").unwrap().unwrap().to_string(),
        "2024-02-29"
    );
    assert_eq!(
        records[0].text("SystemModstamp").unwrap().as_deref(),
        Some("2024-01-31T10:00:00.000Z"),
        "the spaced spelling is rewritten to ISO 8601"
    );
    assert_eq!(
        records[0].text("Name").unwrap().as_deref(),
        Some("2024-01-31 10:00:00"),
        "text fields are never rewritten"
    );
}

#[tokio::test]
async fn an_unreadable_date_is_kept_and_named_by_file_line_record_and_field() {
    let dir = Dir::new("bad-date");
    dir.write(
        "Opportunity.csv",
        &format!(
            "Id,Name,CloseDate\n{},\"A\nsecond line\",2024-01-31\n{},B,31/01/2024\n{},C,2024-03-01\n",
            id("006", 1),
            id("006", 2),
            id("006", 3)
        ),
    );
    let source = ExportSource::open(dir.path()).unwrap();
    let (records, warnings, _) = read_all(
        &source,
        request(SObject::OPPORTUNITY, &["Id", "Name", "CloseDate"], 10),
    )
    .await;
    assert_eq!(records.len(), 3, "the rest of the file is served");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = &warnings[0];
    assert_eq!(w.field, "CloseDate");
    let message = w.problem.to_string();
    // Line 4: the header, a row over two lines, then this one.
    for part in ["Opportunity.csv line 4", &id("006", 2), "31/01/2024"] {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
    assert_eq!(
        records[1].text("CloseDate").unwrap().as_deref(),
        Some("31/01/2024"),
        "kept as it is, for the mapper to reject naming the field"
    );
    assert_eq!(records[1].date("CloseDate").unwrap_err().field, "CloseDate");
}

#[tokio::test]
async fn bad_rows_are_skipped_with_file_line_and_field_and_the_rest_is_served() {
    let dir = Dir::new("bad-rows");
    dir.write(
        "Contact.csv",
        &format!(
            "Id,LastName,Email\n{},Ada,ada@example.com\n{},Short\nnot-an-id,Bad,x@example.com\n{},Grace,g@example.com,extra\n{},Linus,l@example.com\n",
            id("003", 1),
            id("003", 2),
            id("003", 3),
            id("003", 4)
        ),
    );
    let source = ExportSource::open(dir.path()).unwrap();
    let (records, warnings, _) = read_all(
        &source,
        request(SObject::CONTACT, &["Id", "LastName", "Email"], 10),
    )
    .await;
    assert_eq!(ids_of(&records), [id("003", 1), id("003", 4)]);
    let described: Vec<(String, String)> = warnings
        .iter()
        .map(|w| (w.field.to_string(), w.problem.to_string()))
        .collect();
    assert_eq!(described.len(), 3, "{described:?}");
    let short = &described[0];
    assert_eq!(short.0, "Email", "the first missing column");
    assert!(
        short.1.contains("Contact.csv line 3") && short.1.contains(&id("003", 2)),
        "{short:?}"
    );
    assert!(short.1.contains("2 columns"), "{short:?}");
    let bad_id = &described[1];
    assert_eq!(bad_id.0, "Id");
    assert!(
        bad_id.1.contains("Contact.csv line 4") && bad_id.1.contains("not-an-id"),
        "{bad_id:?}"
    );
    let long = &described[2];
    assert!(
        long.1.contains("Contact.csv line 5") && long.1.contains("4 columns"),
        "{long:?}"
    );
    // Warnings about the file come with the first page only.
    let first = request(SObject::CONTACT, &["Id"], 1);
    let page = source.fetch_page(&tenant(), &first).await.unwrap();
    assert_eq!(page.warnings.len(), 3);
    let second = first.clone().cursor(page.next);
    let page = source.fetch_page(&tenant(), &second).await.unwrap();
    assert!(page.warnings.is_empty(), "{:?}", page.warnings);
    assert_eq!(ids_of(&page.records), [id("003", 4)]);
}

#[tokio::test]
async fn an_unsorted_file_is_served_in_id_order_through_an_index() {
    let dir = Dir::new("unsorted");
    // 50 rows in a scrambled order (7 is prime to 50).
    dir.write("Account.csv", &accounts(50, |i| (i * 7 + 3) % 50));
    let source = ExportSource::open(dir.path()).unwrap();
    for page_size in [1, 7, 50, 1000] {
        let (records, warnings, sizes) = read_all(
            &source,
            request(SObject::ACCOUNT, &["Id", "Name"], page_size),
        )
        .await;
        assert!(warnings.is_empty(), "{warnings:?}");
        let want: Vec<String> = (1..=50).map(|k| id("001", k)).collect();
        assert_eq!(ids_of(&records), want, "page_size {page_size}");
        for (r, k) in records.iter().zip(1..) {
            assert_eq!(r.text("Name").unwrap(), Some(format!("Account {k}")));
        }
        assert!(sizes.iter().all(|&s| s <= page_size), "{sizes:?}");
    }
    let prepared = prepared(&source, &SObject::ACCOUNT);
    let Order::Indexed { index } = &prepared.scan.order else {
        panic!("an unsorted file must be indexed");
    };
    assert_eq!(index.len(), 50);
    assert_eq!(
        index.capacity(),
        50,
        "the index is allocated at its exact size"
    );
}

#[test]
fn an_index_entry_is_32_bytes() {
    // The figure the docs give: 32 bytes per row of an unsorted file.
    assert_eq!(std::mem::size_of::<Entry>(), 32);
    assert!(std::mem::size_of::<(DateTime<Utc>, Entry)>() <= 48);
}

#[tokio::test]
async fn after_and_cursor_resume_exactly_sorted_or_not() {
    // Sorted and large enough to use the marks, and scrambled.
    let n = 3 * MARK_EVERY + 17;
    let sorted = Dir::new("resume-sorted");
    sorted.write("Account.csv", &accounts(n, |i| i));
    let scrambled = Dir::new("resume-scrambled");
    scrambled.write("Account.csv", &accounts(n, |i| (i * 1009) % n));
    for (dir, want_sorted) in [(&sorted, true), (&scrambled, false)] {
        let source = ExportSource::open(dir.path()).unwrap();
        let all: Vec<String> = (1..=n).map(|k| id("001", k)).collect();
        let (records, _, sizes) = read_all(&source, request(SObject::ACCOUNT, &["Id"], 500)).await;
        assert_eq!(ids_of(&records), all, "sorted: {want_sorted}");
        assert_eq!(sizes.iter().sum::<usize>() as u64, n);
        let order = &prepared(&source, &SObject::ACCOUNT).scan.order;
        assert_eq!(matches!(order, Order::Sorted { .. }), want_sorted);
        if let Order::Sorted { marks } = order {
            assert_eq!(marks.len() as u64, n.div_ceil(MARK_EVERY));
        }
        // A resumed job: after the last Id stored, in a new read.
        for k in [
            1,
            MARK_EVERY - 1,
            MARK_EVERY,
            MARK_EVERY + 1,
            2 * MARK_EVERY + 5,
            n - 1,
            n,
        ] {
            let after = SfId::parse(&id("001", k)).unwrap();
            let req = request(SObject::ACCOUNT, &["Id"], 333).after(Some(after));
            let (records, _, _) = read_all(&source, req).await;
            assert_eq!(
                ids_of(&records),
                all[k as usize..],
                "after {k}, sorted: {want_sorted}"
            );
        }
        // A cursor continues where its page ended.
        let req = request(SObject::ACCOUNT, &["Id"], 10);
        let first = source.fetch_page(&tenant(), &req).await.unwrap();
        let second = source
            .fetch_page(&tenant(), &req.clone().cursor(first.next.clone()))
            .await
            .unwrap();
        assert_eq!(ids_of(&first.records), all[..10]);
        assert_eq!(ids_of(&second.records), all[10..20]);
        let bad = req.clone().cursor(Some(Cursor::new("elsewhere")));
        assert!(source.fetch_page(&tenant(), &bad).await.is_err());
    }
}

#[tokio::test]
async fn a_missing_file_is_an_object_not_in_this_export() {
    let dir = Dir::new("missing");
    dir.write("Account.csv", &accounts(3, |i| i));
    dir.write("notes.txt", "not a CSV");
    let source = ExportSource::open(dir.path()).unwrap();
    assert_eq!(source.objects(), [SObject::ACCOUNT]);
    let req = request(SObject::QUOTE, &["Id"], 10);
    match source.fetch_page(&tenant(), &req).await {
        Err(Error::ObjectNotAvailable { object }) => assert_eq!(object, SObject::QUOTE),
        other => panic!("expected ObjectNotAvailable, got {other:?}"),
    }
    assert!(matches!(
        source.count_records(&tenant(), &SObject::QUOTE).await,
        Err(Error::ObjectNotAvailable { .. })
    ));
    assert_eq!(
        source
            .count_records(&tenant(), &SObject::ACCOUNT)
            .await
            .unwrap(),
        Some(3)
    );
    // A folder without CSV files is refused when opened.
    let empty = Dir::new("no-csv");
    empty.write("Account.json", "{}");
    let err = ExportSource::open(empty.path()).unwrap_err().to_string();
    assert!(err.contains("no CSV files"), "{err}");
}

#[tokio::test]
async fn page_size_bounds_every_page_and_zero_is_refused() {
    let dir = Dir::new("page-size");
    dir.write("Account.csv", &accounts(10, |i| 9 - i));
    let source = ExportSource::open(dir.path()).unwrap();
    for page_size in 1..=11 {
        let (records, _, sizes) =
            read_all(&source, request(SObject::ACCOUNT, &["Id"], page_size)).await;
        assert_eq!(records.len(), 10);
        let full = sizes.iter().filter(|&&s| s == page_size).count();
        assert_eq!(full, 10 / page_size, "page_size {page_size}: {sizes:?}");
        assert!(sizes.iter().all(|&s| s <= page_size), "{sizes:?}");
    }
    let zero = request(SObject::ACCOUNT, &["Id"], 0);
    assert!(matches!(
        source.fetch_page(&tenant(), &zero).await,
        Err(Error::Config { .. })
    ));
}

#[tokio::test]
async fn deleted_rows_only_when_asked_and_duplicate_ids_once() {
    let dir = Dir::new("deleted");
    dir.write(
        "Account.csv",
        &format!(
            "Id,Name,IsDeleted\n{a},Kept,false\n{b},Gone,TRUE\n{a},Again,false\n{c},Third,0\n",
            a = id("001", 5),
            b = id("001", 2),
            c = id("001", 9)
        ),
    );
    let source = ExportSource::open(dir.path()).unwrap();
    let req = request(SObject::ACCOUNT, &["Id", "Name", "IsDeleted"], 10);
    let (live, warnings, _) = read_all(&source, req.clone()).await;
    assert_eq!(ids_of(&live), [id("001", 5), id("001", 9)]);
    assert_eq!(
        live[0].text("Name").unwrap().as_deref(),
        Some("Kept"),
        "the first row"
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let message = warnings[0].problem.to_string();
    assert!(
        message.contains("line 4") && message.contains("line 2") && message.contains(&id("001", 5)),
        "{message}"
    );
    let mut all_req = req;
    all_req.include_deleted = true;
    let (all, _, _) = read_all(&source, all_req).await;
    assert_eq!(ids_of(&all), [id("001", 2), id("001", 5), id("001", 9)]);
    assert!(all[0].is_deleted());
    assert_eq!(
        source
            .count_records(&tenant(), &SObject::ACCOUNT)
            .await
            .unwrap(),
        Some(2),
        "live records, each Id once"
    );
}

#[tokio::test]
async fn data_loader_headers_in_upper_case_give_the_requested_spelling() {
    let dir = Dir::new("data-loader");
    dir.write(
        "Contact.csv",
        &format!(
            "\"ID\",\"LASTNAME\",\"ACCOUNTID\",\"EXTRA__C\"\n\"{}\",\"Lovelace\",\"{}\",\"x\"\n",
            id("003", 1),
            id("001", 1)
        ),
    );
    let source = ExportSource::open(dir.path().join("Contact.csv")).unwrap();
    let (records, warnings, _) = read_all(
        &source,
        request(
            SObject::CONTACT,
            &["Id", "LastName", "AccountId", "Email"],
            10,
        ),
    )
    .await;
    let names: Vec<&str> = records[0].field_names().collect();
    assert_eq!(
        names,
        ["AccountId", "Id", "LastName"],
        "projected, as asked"
    );
    assert_eq!(
        records[0].sf_id("AccountId").unwrap().unwrap().as_str(),
        id("001", 1)
    );
    // A selected field the file lacks is said once, as REST says it.
    assert_eq!(warnings, [FieldError::new("Email", Problem::NotInOrg)]);
}

#[tokio::test]
async fn pricebook2_is_standard_is_joined_from_pricebook2_csv() {
    let standard = id("01s", 1);
    let custom = id("01s", 2);
    let entries = format!(
        "Id,Product2Id,Pricebook2Id,UnitPrice\n{},{},{standard},10\n{},{},{custom},9\n{},{},,8\n",
        id("01u", 1),
        id("01t", 1),
        id("01u", 2),
        id("01t", 1),
        id("01u", 3),
        id("01t", 1),
    );
    let fields = [
        "Id",
        "Product2Id",
        "Pricebook2Id",
        "UnitPrice",
        "Pricebook2.IsStandard",
    ];
    let req = request(SObject::PRICEBOOK_ENTRY, &fields, 10);

    let dir = Dir::new("join");
    dir.write("PricebookEntry.csv", &entries).write(
        "Pricebook2.csv",
        &format!(
            "Id,Name,IsStandard\n{custom},Partners,false\n{standard},Standard Price Book,true\n"
        ),
    );
    let source = ExportSource::open(dir.path()).unwrap();
    let (records, warnings, _) = read_all(&source, req.clone()).await;
    assert!(warnings.is_empty(), "{warnings:?}");
    let joined: Vec<Option<bool>> = records
        .iter()
        .map(|r| r.boolean("Pricebook2.IsStandard").unwrap())
        .collect();
    assert_eq!(joined, [Some(true), Some(false), None]);

    // Without the file, or without its column: null, and one warning.
    for (name, pricebooks) in [
        ("join-no-file", None),
        (
            "join-no-column",
            Some(format!("Id,Name\n{standard},Standard Price Book\n")),
        ),
    ] {
        let dir = Dir::new(name);
        dir.write("PricebookEntry.csv", &entries);
        if let Some(text) = &pricebooks {
            dir.write("Pricebook2.csv", text);
        }
        let source = ExportSource::open(dir.path()).unwrap();
        let mut small = req.clone();
        small.page_size = 1;
        let (records, warnings, _) = read_all(&source, small).await;
        assert_eq!(records.len(), 3);
        assert!(
            records
                .iter()
                .all(|r| r.boolean("Pricebook2.IsStandard").unwrap().is_none())
        );
        assert_eq!(warnings.len(), 1, "{name}: {warnings:?}");
        assert_eq!(warnings[0].field, "Pricebook2.IsStandard");
        let why = warnings[0].problem.to_string();
        let expected = if pricebooks.is_none() {
            "no Pricebook2.csv"
        } else {
            "no IsStandard column"
        };
        assert!(why.contains(expected), "{why}");
    }
}

#[tokio::test]
async fn a_sync_read_filters_on_system_modstamp_in_stamp_order() {
    let dir = Dir::new("sync");
    dir.write(
        "Account.csv",
        &format!(
            "Id,Name,IsDeleted,SystemModstamp\n\
             {},Old,false,2024-01-01T00:00:00.000Z\n\
             {},Late,false,2024-03-01T00:00:00.000Z\n\
             {},Early,false,2024-02-01 00:00:00\n\
             {},Deleted,true,2024-02-15T00:00:00.000Z\n\
             {},SameStamp,false,2024-02-01T00:00:00.000Z\n",
            id("001", 1),
            id("001", 2),
            id("001", 3),
            id("001", 4),
            id("001", 5)
        ),
    );
    let source = ExportSource::open(dir.path()).unwrap();
    let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    let req = request(
        SObject::ACCOUNT,
        &["Id", "Name", "SystemModstamp", "IsDeleted"],
        2,
    )
    .changed_since(Some(t("2024-02-01T00:00:00Z")));
    let (records, _, _) = read_all(&source, req.clone()).await;
    let names: Vec<String> = records
        .iter()
        .map(|r| r.text("Name").unwrap().unwrap())
        .collect();
    assert_eq!(names, ["Early", "SameStamp", "Deleted", "Late"]);
    assert!(records[2].is_deleted());
    // Resumed after (modstamp, id) of "SameStamp".
    let resumed = req
        .after(Some(SfId::parse(&id("001", 5)).unwrap()))
        .after_modstamp(Some(t("2024-02-01T00:00:00Z")));
    let (records, _, _) = read_all(&source, resumed).await;
    assert_eq!(ids_of(&records), [id("001", 4), id("001", 2)]);

    // Without a stamp column, a sync cannot tell what changed.
    let plain = Dir::new("sync-plain");
    plain.write("Account.csv", &accounts(2, |i| i));
    let source = ExportSource::open(plain.path()).unwrap();
    let req = request(SObject::ACCOUNT, &["Id"], 2).changed_since(Some(t("2024-02-01T00:00:00Z")));
    let err = source
        .fetch_page(&tenant(), &req)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("SystemModstamp"), "{err}");
}

/// The same files, zipped (deflate) into `export.zip` in `dir`.
fn zip_of(files: &[(&str, String)], dir: &Dir) -> PathBuf {
    let path = dir.path().join("export.zip");
    let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, text) in files {
        zip.start_file(*name, options).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
    path
}

#[tokio::test]
async fn a_zip_reads_like_its_folder_and_cleans_up_after_itself() {
    let files = [
        ("Account.csv", accounts(40, |i| (i * 3) % 40)),
        (
            "Contact.csv",
            format!("Id,LastName\n{},Ada\n", id("003", 1)),
        ),
    ];
    let folder = Dir::new("zip-folder");
    for (name, text) in &files {
        folder.write(name, text);
    }
    let holder = Dir::new("zip-holder");
    let zip = zip_of(&files, &holder);
    let scratch = Dir::new("zip-scratch");

    let from_folder = ExportSource::open(folder.path()).unwrap();
    let from_zip = ExportSource::open(&zip).unwrap().temp_dir(scratch.path());
    assert_eq!(from_zip.objects(), [SObject::ACCOUNT, SObject::CONTACT]);
    for (object, fields) in [
        (SObject::ACCOUNT, &["Id", "Name"][..]),
        (SObject::CONTACT, &["Id", "LastName"][..]),
    ] {
        let req = request(object, fields, 7);
        let (a, _, _) = read_all(&from_folder, req.clone()).await;
        let (b, _, _) = read_all(&from_zip, req).await;
        assert!(!a.is_empty());
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
    }
    let copies = std::fs::read_dir(scratch.path()).unwrap().count();
    assert_eq!(copies, 1, "one folder of copies");
    drop(from_zip);
    assert_eq!(
        std::fs::read_dir(scratch.path()).unwrap().count(),
        0,
        "the copies are removed with the source"
    );

    let not_export = holder.path().join("notes.txt");
    std::fs::write(&not_export, "hello").unwrap();
    assert!(ExportSource::open(&not_export).is_err());
}
