//! A generated org: records computed on the fly from (seed, object, index),
//! so that millions of them cost no memory.
//!
//! Record `i` of an object has the id `<prefix>5g<i+1 in base 62, 10
//! digits><checksum>`: ids increase with `i` (base-62 digits in ASCII
//! order), so `WHERE Id > 'x'` is a binary search over `i` and a page is
//! a range of indexes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::ids::key_prefix;
use salesforce_import::SfId;

pub(crate) const BASE62: &[u8; 62] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The 18-character id of record `i` of the object with this key prefix.
pub(crate) fn id(prefix: &str, i: u64) -> String {
    let mut body = [b'0'; 10];
    let mut n = i + 1;
    for slot in body.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    let mut id15 = String::with_capacity(15);
    id15.push_str(prefix);
    id15.push_str("5g");
    id15.push_str(std::str::from_utf8(&body).expect("base-62 digits are ASCII"));
    SfId::parse(&id15)
        .expect("a generated id is 15 ASCII letters and digits")
        .as_str()
        .to_owned()
}

/// The number of records among the first `n` whose id sorts at or before
/// `after`: the position where `WHERE Id > after` starts.
pub(crate) fn position_after(prefix: &str, n: u64, after: &str) -> u64 {
    partition(prefix, n, |id| id <= after)
}

/// The number of records among the first `n` whose id sorts before
/// `before`: the position where `WHERE Id >= before` starts.
pub(crate) fn position_before(prefix: &str, n: u64, before: &str) -> u64 {
    partition(prefix, n, |id| id < before)
}

/// The number of records (a prefix of them) whose id satisfies `is_before`.
fn partition(prefix: &str, n: u64, is_before: impl Fn(&str) -> bool) -> u64 {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if is_before(id(prefix, mid).as_str()) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// How many records of each object an org generated with `size` has:
/// `size` accounts and contacts, half as many opportunities, a quarter as
/// many orders and quotes with two lines each, one product (and standard
/// price) per hundred accounts, and the standard price book.
pub(crate) fn counts(size: u64) -> BTreeMap<&'static str, u64> {
    let products = (size / 100).max(1);
    BTreeMap::from([
        ("Account", size),
        ("Contact", size),
        ("Opportunity", size / 2),
        ("Pricebook2", 1),
        ("Product2", products),
        ("PricebookEntry", products),
        ("Order", size / 4),
        ("OrderItem", size / 4 * 2),
        ("Quote", size / 4),
        ("QuoteLineItem", size / 4 * 2),
    ])
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn salt(text: &str) -> u64 {
    // FNV-1a: stable across runs and platforms.
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

const COMPANIES: [&str; 12] = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Wonka",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
];
const SUFFIXES: [&str; 6] = ["Inc", "GmbH", "Ltd", "LLC", "SA", "KK"];
const FIRST: [&str; 10] = [
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Tim",
];
const LAST: [&str; 10] = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Hamilton",
    "Berners-Lee",
];
const CITIES: [(&str, &str, &str, &str); 6] = [
    ("San Francisco", "CA", "94105", "United States"),
    ("New York", "NY", "10001", "USA"),
    ("London", "", "EC1A 1BB", "United Kingdom"),
    ("Berlin", "", "10115", "Germany"),
    ("Toronto", "ON", "M5H 2N2", "Canada"),
    ("Tokyo", "", "100-0001", "Japan"),
];
const INDUSTRIES: [&str; 5] = ["Technology", "Manufacturing", "Retail", "Banking", "Energy"];
const STAGES: [(&str, u32); 6] = [
    ("Prospecting", 10),
    ("Qualification", 10),
    ("Needs Analysis", 20),
    ("Proposal/Price Quote", 75),
    ("Closed Won", 100),
    ("Closed Lost", 0),
];
const QUOTE_STATUS: [&str; 4] = ["Draft", "Needs Review", "Approved", "Accepted"];

/// The generated org's data.
#[derive(Debug, Clone)]
pub(crate) struct Generated {
    seed: u64,
    counts: BTreeMap<&'static str, u64>,
}

impl Generated {
    pub(crate) fn new(seed: u64, size: u64) -> Generated {
        Generated {
            seed,
            counts: counts(size),
        }
    }

    pub(crate) fn count(&self, object: &str) -> u64 {
        self.counts.get(object).copied().unwrap_or(0)
    }

    fn hash(&self, object: &str, field: &str, i: u64) -> u64 {
        splitmix(self.seed ^ salt(object) ^ salt(field).rotate_left(17) ^ splitmix(i))
    }

    fn pick<'a>(&self, object: &str, field: &str, i: u64, from: &[&'a str]) -> &'a str {
        from[(self.hash(object, field, i) % from.len() as u64) as usize]
    }

    /// The record a reference field points to, as (object, index), or
    /// `None` when it is empty.
    pub(crate) fn reference(
        &self,
        object: &str,
        field: &str,
        i: u64,
    ) -> Option<(&'static str, u64)> {
        let h = self.hash(object, field, i);
        let any = |target: &'static str| {
            let n = self.count(target);
            (n > 0).then(|| (target, h / 7 % n))
        };
        let some = |percent: u64, target: &'static str| {
            if h % 100 < percent { any(target) } else { None }
        };
        match (object, field) {
            ("Account", "ParentId") => {
                (i > 0 && h.is_multiple_of(10)).then(|| ("Account", h / 7 % i))
            }
            ("Contact", "AccountId") => some(98, "Account"),
            ("Opportunity", "AccountId") | ("Order", "AccountId") => any("Account"),
            ("Opportunity", "ContactId") | ("Quote", "ContactId") => some(50, "Contact"),
            ("Order", "BillToContactId") => some(50, "Contact"),
            ("Order", "OpportunityId") => some(50, "Opportunity"),
            ("Quote", "OpportunityId") => any("Opportunity"),
            ("Quote", "AccountId") => some(90, "Account"),
            (_, "Pricebook2Id") => any("Pricebook2"),
            ("PricebookEntry", "Product2Id") => Some(("Product2", i)),
            ("OrderItem", "OrderId") => Some(("Order", i / 2)),
            ("QuoteLineItem", "QuoteId") => Some(("Quote", i / 2)),
            ("OrderItem" | "QuoteLineItem", "Product2Id" | "PricebookEntryId") => {
                let n = self.count("Product2");
                let p = self.hash(object, "Product2Id", i) % n.max(1);
                let target = if field == "Product2Id" {
                    "Product2"
                } else {
                    "PricebookEntry"
                };
                (n > 0).then_some((target, p))
            }
            _ => None,
        }
    }

    /// The names of the objects generated, with their counts.
    pub(crate) fn counts(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.counts.iter().map(|(o, n)| (*o, *n))
    }

    /// An instant after every `SystemModstamp` of the org (a record's
    /// stamp is at most 400 days after its creation).
    pub(crate) fn latest_stamp(&self) -> DateTime<Utc> {
        let last = self.counts.values().copied().max().unwrap_or(0);
        self.created_base() + Duration::seconds((last * 37 + 3_600) as i64) + Duration::days(400)
    }

    fn created_base(&self) -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(2020, 1, 1)
            .expect("a valid date")
            .and_hms_opt(0, 0, 0)
            .expect("a valid time")
            .and_utc()
    }

    fn price_cents(&self, product: u64) -> u64 {
        1_000 + self.hash("Product2", "Price", product) % 500_000
    }

    fn created(&self, object: &str, i: u64) -> DateTime<Utc> {
        self.created_base()
            + Duration::seconds((i * 37 + self.hash(object, "CreatedDate", i) % 3600) as i64)
    }

    /// Writes the JSON text of one field of record `i` (`null` for a field
    /// the generator does not fill).
    pub(crate) fn write_value(&self, object: &str, field: &str, i: u64, out: &mut String) {
        if field != "Id" && field.ends_with("Id") {
            // A reference: its target's id, or null.
            match self.reference(object, field, i) {
                Some((target, j)) => {
                    let _ = write!(out, "\"{}\"", id(key_prefix(target), j));
                }
                None => out.push_str("null"),
            }
            return;
        }
        let h = self.hash(object, field, i);
        let text = |out: &mut String, s: &str| {
            out.push('"');
            out.push_str(s);
            out.push('"');
        };
        let money = |out: &mut String, cents: u64| {
            let _ = write!(out, "{}.{:02}", cents / 100, cents % 100);
        };
        let city = CITIES[(self.hash(object, "City", i) % CITIES.len() as u64) as usize];
        let stage = STAGES[(self.hash(object, "StageName", i) % STAGES.len() as u64) as usize];
        let first = self.pick(object, "FirstName", i, &FIRST);
        let last = self.pick(object, "LastName", i, &LAST);
        let address = |out: &mut String, part: &str| match part {
            "Street" => {
                let _ = write!(out, "\"{} Market Street\"", 1 + h % 999);
            }
            "City" => text(out, city.0),
            "State" if city.1.is_empty() => out.push_str("null"),
            "State" => text(out, city.1),
            "PostalCode" => text(out, city.2),
            _ => text(out, city.3),
        };
        match (object, field) {
            (_, "Id") => text(out, &id(key_prefix(object), i)),
            (_, "IsDeleted") => out.push_str("false"),
            (_, "CreatedDate") => {
                datetime(out, self.created(object, i));
            }
            (_, "LastModifiedDate" | "SystemModstamp") => {
                let at = self.created(object, i)
                    + Duration::days((self.hash(object, "Modified", i) % 400) as i64);
                datetime(out, at);
            }
            (_, "CurrencyIsoCode") => text(out, if h.is_multiple_of(5) { "EUR" } else { "USD" }),
            (_, f) if f.starts_with("Billing") || f.starts_with("Shipping") => {
                let part = f
                    .trim_start_matches("Billing")
                    .trim_start_matches("Shipping");
                address(out, part);
            }
            ("Contact", f) if f.starts_with("Mailing") => address(out, &f["Mailing".len()..]),
            (_, "Description") => {
                if h.is_multiple_of(3) {
                    let _ = write!(out, "\"Generated {object} number {i}\"");
                } else {
                    out.push_str("null");
                }
            }
            ("Account", "Name") => {
                let company = self.pick(object, "Name", i, &COMPANIES);
                let suffix = self.pick(object, "Suffix", i, &SUFFIXES);
                let _ = write!(out, "\"{company} {suffix} {i}\"");
            }
            ("Account", "AccountNumber") => {
                let _ = write!(out, "\"ACC-{i:08}\"");
            }
            ("Account", "Type") => text(
                out,
                if h.is_multiple_of(4) {
                    "Prospect"
                } else {
                    "Customer - Direct"
                },
            ),
            ("Account" | "Contact", "Phone") => {
                let _ = write!(out, "\"+1 415 555 {:04}\"", h % 10_000);
            }
            ("Account", "Website") => {
                let _ = write!(out, "\"https://www.example{i}.com\"");
            }
            ("Account", "Industry") => text(out, self.pick(object, field, i, &INDUSTRIES)),
            ("Account", "AnnualRevenue") => money(out, h % 10_000_000_000),
            ("Account", "NumberOfEmployees") => {
                let _ = write!(out, "{}", 1 + h % 50_000);
            }
            ("Contact", "FirstName") => text(out, first),
            ("Contact", "LastName") => text(out, last),
            ("Contact", "Name") => {
                let _ = write!(out, "\"{first} {last}\"");
            }
            ("Contact", "Email") => {
                let _ = write!(
                    out,
                    "\"{}.{}{i}@example.com\"",
                    first.to_ascii_lowercase(),
                    last.to_ascii_lowercase()
                );
            }
            ("Contact", "Title") => text(out, if h.is_multiple_of(2) { "CTO" } else { "Buyer" }),
            ("Contact", "Department") => text(
                out,
                if h.is_multiple_of(2) {
                    "IT"
                } else {
                    "Procurement"
                },
            ),
            ("Contact", "DoNotCall") => out.push_str(if h.is_multiple_of(10) {
                "true"
            } else {
                "false"
            }),
            ("Opportunity", "Name") => {
                let _ = write!(out, "\"Deal {i}\"");
            }
            ("Opportunity", "StageName") => text(out, stage.0),
            ("Opportunity", "Probability") => {
                let _ = write!(out, "{}", stage.1);
            }
            ("Opportunity", "IsClosed") => {
                out.push_str(if stage.0.starts_with("Closed") {
                    "true"
                } else {
                    "false"
                });
            }
            ("Opportunity", "IsWon") => {
                out.push_str(if stage.0 == "Closed Won" {
                    "true"
                } else {
                    "false"
                });
            }
            ("Opportunity", "Amount") => money(out, h % 100_000_000),
            ("Opportunity", "LeadSource") => text(
                out,
                if h.is_multiple_of(2) {
                    "Web"
                } else {
                    "Partner"
                },
            ),
            ("Opportunity", "Type") => text(out, "New Business"),
            ("Opportunity", "CloseDate")
            | ("Order", "EffectiveDate")
            | ("Quote", "ExpirationDate") => {
                let date = self.created(object, i).date_naive() + Duration::days((h % 365) as i64);
                let _ = write!(out, "\"{date}\"");
            }
            ("Pricebook2", "Name") => text(out, "Standard Price Book"),
            ("Pricebook2", "IsStandard" | "IsActive") => out.push_str("true"),
            ("Product2" | "PricebookEntry", "Name") => {
                let _ = write!(out, "\"Product {i}\"");
            }
            ("Product2" | "PricebookEntry", "ProductCode") => {
                let _ = write!(out, "\"P-{i:06}\"");
            }
            ("Product2", "IsActive") | ("PricebookEntry", "IsActive") => out.push_str("true"),
            ("Product2", "Family") => text(
                out,
                if h.is_multiple_of(2) {
                    "Hardware"
                } else {
                    "Services"
                },
            ),
            ("PricebookEntry", "UnitPrice") => money(out, self.price_cents(i)),
            ("PricebookEntry", "UseStandardPrice") => out.push_str("false"),
            ("Order" | "Quote", "Name") => {
                let _ = write!(out, "\"{object} {i}\"");
            }
            ("Order", "OrderNumber") | ("Quote", "QuoteNumber") => {
                let _ = write!(out, "\"{:08}\"", i + 1);
            }
            ("Order", "Status") => text(
                out,
                if h.is_multiple_of(2) {
                    "Activated"
                } else {
                    "Draft"
                },
            ),
            ("Order", "ActivatedDate") if self.hash(object, "Status", i).is_multiple_of(2) => {
                let at = self.created(object, i) + Duration::days(1);
                datetime(out, at);
            }
            ("Order", "TotalAmount") | ("Quote", "Subtotal" | "TotalPrice" | "GrandTotal") => {
                let lines = [2 * i, 2 * i + 1];
                let line_object = if object == "Order" {
                    "OrderItem"
                } else {
                    "QuoteLineItem"
                };
                let total: u64 = lines.iter().map(|&l| self.line_total(line_object, l)).sum();
                money(out, total);
            }
            ("Quote", "Status") => text(out, self.pick(object, field, i, &QUOTE_STATUS)),
            ("Quote", "Tax") => out.push_str("0.00"),
            ("OrderItem", "OrderItemNumber") | ("QuoteLineItem", "LineNumber") => {
                let _ = write!(out, "\"{:010}\"", i + 1);
            }
            ("OrderItem" | "QuoteLineItem", "Quantity") => {
                let _ = write!(out, "{}.0", self.quantity(object, i));
            }
            ("OrderItem" | "QuoteLineItem", "UnitPrice") | ("OrderItem", "ListPrice") => {
                let product = self
                    .reference(object, "Product2Id", i)
                    .map_or(0, |(_, p)| p);
                money(out, self.price_cents(product));
            }
            ("OrderItem" | "QuoteLineItem", "TotalPrice") => money(out, self.line_total(object, i)),
            _ => out.push_str("null"),
        }
    }

    fn quantity(&self, object: &str, i: u64) -> u64 {
        1 + self.hash(object, "Quantity", i) % 10
    }

    fn line_total(&self, object: &str, i: u64) -> u64 {
        if i >= self.count(object) {
            return 0;
        }
        let product = self
            .reference(object, "Product2Id", i)
            .map_or(0, |(_, p)| p);
        self.quantity(object, i) * self.price_cents(product)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_and_increasing() {
        let mut last = String::new();
        for i in [0, 1, 9, 10, 61, 62, 63, 3843, 1_000_000, 999_999_999] {
            let id = id("001", i);
            assert!(SfId::parse(&id).is_ok(), "{id}");
            assert_eq!(id.len(), 18);
            assert!(id > last, "{id} after {last}");
            last = id;
        }
    }

    #[test]
    fn position_after_is_a_keyset_resume() {
        let n = 1000;
        assert_eq!(position_after("003", n, ""), 0);
        assert_eq!(position_after("003", n, &id("003", 0)), 1);
        assert_eq!(position_after("003", n, &id("003", 499)), 500);
        assert_eq!(position_after("003", n, &id("003", 999)), 1000);
        assert_eq!(position_after("003", n, "003zzzzzzzzzzzzzzz"), 1000);
        assert_eq!(position_after("003", n, "001zzzzzzzzzzzzzzz"), 0);
        assert_eq!(position_before("003", n, &id("003", 0)), 0);
        assert_eq!(position_before("003", n, &id("003", 499)), 499);
        assert_eq!(position_before("003", n, "003zzzzzzzzzzzzzzz"), 1000);
    }

    #[test]
    fn values_are_deterministic_and_json() {
        let a = Generated::new(7, 1000);
        let b = Generated::new(7, 1000);
        let c = Generated::new(8, 1000);
        let fields = [
            "Id",
            "Name",
            "AccountId",
            "Email",
            "Phone",
            "MailingCity",
            "DoNotCall",
        ];
        let mut differs = false;
        for i in 0..50 {
            for f in fields {
                let (mut x, mut y, mut z) = (String::new(), String::new(), String::new());
                a.write_value("Contact", f, i, &mut x);
                b.write_value("Contact", f, i, &mut y);
                c.write_value("Contact", f, i, &mut z);
                assert_eq!(x, y);
                differs |= x != z;
                serde_json::from_str::<serde_json::Value>(&x)
                    .unwrap_or_else(|e| panic!("{f}: {x}: {e}"));
            }
        }
        assert!(differs, "another seed gives another org");
    }
}

/// `"2020-01-01T00:00:00.000+0000"`, Salesforce's spelling, written without
/// chrono's format interpreter (the hot path of every generated page).
fn datetime(out: &mut String, at: DateTime<Utc>) {
    use chrono::{Datelike, Timelike};
    let _ = write!(
        out,
        "\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000\"",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.timestamp_subsec_millis()
    );
}

#[cfg(test)]
mod datetime_tests {
    use super::*;

    #[test]
    fn written_as_chrono_formats_it() {
        for at in [
            NaiveDate::from_ymd_opt(2020, 1, 1)
                .unwrap()
                .and_hms_milli_opt(0, 0, 0, 7),
            NaiveDate::from_ymd_opt(2031, 12, 31)
                .unwrap()
                .and_hms_milli_opt(23, 59, 59, 999),
        ] {
            let at = at.unwrap().and_utc();
            let mut out = String::new();
            datetime(&mut out, at);
            assert_eq!(out, format!("\"{}\"", at.format("%Y-%m-%dT%H:%M:%S%.3f%z")));
        }
    }
}
