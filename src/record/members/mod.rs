//! How an [`SfRecord`] holds its members: its text once (the JSON as it
//! came, or its names and raw values back to back), and a sorted list of
//! spans of it, one a member.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use super::{Attributes, SfRecord};

/// A byte range of [`SfRecord::buf`].
#[derive(Clone, Copy)]
pub(super) struct Span {
    start: u32,
    end: u32,
}

#[derive(Clone, Copy)]
pub(super) struct Member {
    pub(super) name: Span,
    pub(super) value: Span,
}

/// A member name borrowed from the text when it has no escapes.
struct Name<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// Reads one JSON object, `text`, straight into member spans of it: no
/// list of borrowed pairs in between. A name with escapes (rare) is
/// unescaped into `unescaped`, with the index of its member, and its span
/// is left empty for [`SfRecord::index`] to point at the copy.
struct Spans<'t, 'o> {
    text: &'t str,
    members: &'o mut Vec<Member>,
    unescaped: &'o mut Vec<(usize, String)>,
}

impl<'de, 'o> serde::de::DeserializeSeed<'de> for Spans<'de, 'o> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'o> serde::de::Visitor<'de> for Spans<'de, 'o> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some((name, value)) = map.next_entry::<Name<'de>, &'de RawValue>()? {
            let v = offset_in(self.text, value.get());
            let value = span(v, v + value.get().len());
            let name = match name.0 {
                Cow::Borrowed(n) => {
                    let at = offset_in(self.text, n);
                    span(at, at + n.len())
                }
                Cow::Owned(n) => {
                    self.unescaped.push((self.members.len(), n));
                    span(0, 0)
                }
            };
            self.members.push(Member { name, value });
        }
        Ok(())
    }
}

/// Member names in ASCII-case-insensitive order, ties broken by exact
/// order: one binary search finds a name, or the same name in another case
/// (Data Loader CSV exports upper-case every column).
///
/// Compared as bytes: the getters' binary search runs this, and slicing a
/// `str` would check char boundaries at every step.
fn name_order(x: &[u8], y: &[u8]) -> Ordering {
    // By hand. Names share long prefixes (`Billing…`, `Shipping…`): equal bytes are skipped eight
    // at a time before the byte loop.
    let n = x.len().min(y.len());
    let word = |s: &[u8], i: usize| u64::from_ne_bytes(s[i..i + 8].try_into().expect("8 bytes"));
    let mut i = 0;
    while i + 8 <= n && word(x, i) == word(y, i) {
        i += 8;
    }
    for (p, q) in x[i..n].iter().zip(&y[i..n]) {
        if p != q {
            let (p, q) = (p.to_ascii_lowercase(), q.to_ascii_lowercase());
            if p != q {
                return p.cmp(&q);
            }
        }
    }
    x.len().cmp(&y.len()).then_with(|| x.cmp(y))
}

/// The name of member `m` of a record whose text is `buf`, as bytes.
fn name_of<'b>(buf: &'b str, m: &Member) -> &'b [u8] {
    &buf.as_bytes()[m.name.start as usize..m.name.end as usize]
}

/// Where `part` (a slice of `whole`) starts in it.
fn offset_in(whole: &str, part: &str) -> usize {
    part.as_ptr() as usize - whole.as_ptr() as usize
}

fn span(start: usize, end: usize) -> Span {
    // Records are far below 4 GiB: `index` refuses larger text.
    Span {
        start: start as u32,
        end: end as u32,
    }
}

mod order;

/// Only a source that holds a page's text reads it in one pass (`http`).
#[cfg(any(feature = "http", test))]
mod one_pass;
#[cfg(feature = "http")]
pub(crate) use one_pass::Records;

use order::sort_members;

impl SfRecord {
    /// Indexes `text`, one JSON object, into a record.
    fn index(mut buf: String) -> Result<SfRecord, serde_json::Error> {
        if buf.len() > u32::MAX as usize / 2 {
            return Err(serde_json::Error::custom("record larger than 2 GiB"));
        }
        // Most records have fewer members than this: one allocation.
        let mut members = Vec::with_capacity(32);
        let mut unescaped: Vec<(usize, String)> = Vec::new();
        {
            use serde::de::DeserializeSeed as _;
            let mut de = serde_json::Deserializer::from_str(&buf);
            Spans {
                text: &buf,
                members: &mut members,
                unescaped: &mut unescaped,
            }
            .deserialize(&mut de)?;
            de.end()?;
        }
        for (i, name) in unescaped {
            let at = buf.len();
            buf.push_str(&name);
            members[i].name = span(at, buf.len());
        }
        sort_members(&buf, &mut members);
        SfRecord { buf, members }.checked()
    }

    /// The record, once its `attributes` block (if any) is checked.
    fn checked(self) -> Result<SfRecord, serde_json::Error> {
        if let Some(attrs) = self.member("attributes") {
            serde_json::from_str::<Attributes>(attrs)
                .map_err(|e| serde_json::Error::custom(format!("bad attributes block: {e}")))?;
        }
        Ok(self)
    }

    pub(super) fn text_of(&self, s: Span) -> &str {
        &self.buf[s.start as usize..s.end as usize]
    }

    /// Where the member named exactly `field` is (or would go).
    ///
    /// A mapper asks every record of a page for the same names, which sit
    /// at the same places: where this thread last found `field` (the same
    /// text at the same address, usually a literal) is tried first, and
    /// taken when the member there has that very name (names are unique,
    /// so it is the one). Otherwise, a binary search.
    pub(super) fn position(&self, field: &str) -> Result<usize, usize> {
        let wanted = field.as_bytes();
        if let Some(at) = order::last_place(field)
            && let Some(m) = self.members.get(at)
            && name_of(&self.buf, m) == wanted
        {
            return Ok(at);
        }
        let found = self
            .members
            .binary_search_by(|m| name_order(name_of(&self.buf, m), wanted));
        if let Ok(at) = found {
            order::found_at(field, at);
        }
        found
    }

    /// The raw JSON text of the member named exactly `field`.
    pub(super) fn member(&self, field: &str) -> Option<&str> {
        let i = self.position(field).ok()?;
        Some(self.text_of(self.members[i].value))
    }

    /// Sets a member to raw JSON text (known to be valid).
    pub(super) fn put(&mut self, field: &str, json: &str) {
        let at = self.buf.len();
        self.buf.push_str(field);
        let name = span(at, self.buf.len());
        self.buf.push_str(json);
        let value = span(name.end as usize, self.buf.len());
        match self.position(field) {
            Ok(i) => self.members[i] = Member { name, value },
            Err(i) => self.members.insert(i, Member { name, value }),
        }
    }
}

impl<'de> Deserialize<'de> for SfRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        let text: Box<str> = raw.into();
        SfRecord::index(text.into_string()).map_err(D::Error::custom)
    }
}

impl Serialize for SfRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeMap};
        let mut map = s.serialize_map(Some(self.members.len()))?;
        for m in &self.members {
            let value: &RawValue = serde_json::from_str(self.text_of(m.value))
                .map_err(|e| S::Error::custom(e.to_string()))?;
            map.serialize_entry(self.text_of(m.name), value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order is: ignoring ASCII case first, then exactly.
    #[test]
    fn names_order_ignoring_case_then_exactly() {
        let reference = |a: &str, b: &str| {
            a.to_ascii_lowercase()
                .cmp(&b.to_ascii_lowercase())
                .then_with(|| a.cmp(b))
        };
        let names = [
            "",
            "a",
            "A",
            "Id",
            "ID",
            "id",
            "Name",
            "NAME",
            "name",
            "Names",
            "AccountId",
            "ACCOUNTID",
            "Account",
            "Account_",
            "Account__c",
            "account__C",
            "Zeta",
            "_x",
            "[",
            "`",
            "Ünï",
            "ünï",
            "a1",
            "A1",
            "a10",
            "a2",
        ];
        for a in names {
            for b in names {
                assert_eq!(
                    name_order(a.as_bytes(), b.as_bytes()),
                    reference(a, b),
                    "{a:?} vs {b:?}"
                );
            }
        }
    }

    /// Records one after another on one thread, as a page's are: those
    /// reordered by the last one's moves come out as a sort from scratch
    /// would put them, and names are found where they are, whatever the
    /// layouts in between (the same names in another order or case,
    /// duplicates, escapes, more or fewer names).
    #[test]
    fn records_reordered_and_looked_up_like_the_last_one_read_as_from_scratch() {
        let layouts: [&[&str]; 7] = [
            &[
                "attributes",
                "Id",
                "Name",
                "BillingCity",
                "AccountId",
                "Zip",
            ],
            &[
                "attributes",
                "Id",
                "Name",
                "BillingCity",
                "AccountId",
                "Zip",
            ],
            &[
                "attributes",
                "Name",
                "Id",
                "BillingCity",
                "AccountId",
                "Zip",
            ],
            &[
                "attributes",
                "ID",
                "Name",
                "BillingCity",
                "AccountId",
                "Zip",
            ],
            &["attributes", "Id", "Name", "Name", "AccountId", "Zip"],
            &[
                "attributes",
                "Id",
                "N\\u0061me",
                "BillingCity",
                "AccountId",
                "Zip",
            ],
            &["attributes", "Id", "Name", "AccountId"],
        ];
        let reference = |a: &str, b: &str| {
            a.to_ascii_lowercase()
                .cmp(&b.to_ascii_lowercase())
                .then_with(|| a.cmp(b))
        };
        let mut seed = 7u64;
        for n in 0..300 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let layout = layouts[(seed >> 33) as usize % layouts.len()];
            // Values of varying length: positions in the text differ.
            let pairs: Vec<(String, String)> = layout
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let value = "v".repeat((seed >> (i * 3)) as usize % 7) + &format!("{n}.{i}");
                    (name.replace("\\u0061", "a"), value)
                })
                .collect();
            let json = format!(
                "{{{}}}",
                layout
                    .iter()
                    .zip(&pairs)
                    .map(|(name, (_, v))| if *name == "attributes" {
                        r#""attributes": {"type": "Account"}"#.to_owned()
                    } else {
                        format!("\"{name}\": \"{v}\"")
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let mut expected: Vec<(String, String)> = Vec::new();
            for (name, value) in pairs.into_iter().filter(|(k, _)| k != "attributes") {
                expected.retain(|(k, _)| *k != name);
                expected.push((name, value));
            }
            expected.sort_by(|a, b| reference(&a.0, &b.0));
            let r = SfRecord::from_json(&json).unwrap();
            let names: Vec<&str> = r.field_names().collect();
            let want: Vec<&str> = expected.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(names, want, "record {n}: {json}");
            for (name, value) in &expected {
                assert_eq!(
                    r.member(name),
                    Some(format!("\"{value}\"").as_str()),
                    "record {n}"
                );
            }
            // The same literal names, record after record: where each was
            // found last is a hint, right or not.
            for name in [
                "Id",
                "ID",
                "Name",
                "BillingCity",
                "AccountId",
                "Zip",
                "Missing",
            ] {
                let want = expected
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| format!("\"{v}\""));
                assert_eq!(r.member(name), want.as_deref(), "record {n}: {name}");
            }
        }
    }

    #[test]
    fn members_are_sorted_last_duplicate_wins_and_escaped_names_read() {
        let r = SfRecord::from_json(
            r#"{"B": 1, "A\u0042": "ab", "A": "first", "A": "second", "Q": "say \"hi\""}"#,
        )
        .unwrap();
        assert_eq!(r.field_names().collect::<Vec<_>>(), ["A", "AB", "B", "Q"]);
        assert_eq!(r.text("A").unwrap().as_deref(), Some("second"));
        assert_eq!(r.text("AB").unwrap().as_deref(), Some("ab"));
        assert_eq!(r.text("Q").unwrap().as_deref(), Some("say \"hi\""));
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"A":"second","AB":"ab","B":1,"Q":"say \"hi\""}"#
        );
        let mut r = r;
        r.set("B", 2);
        r.set("C", serde_json::Value::Null);
        r.remove("A");
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"AB":"ab","B":2,"C":null,"Q":"say \"hi\""}"#
        );
        // A duplicate spelled with an escape: still the later one wins.
        let r = SfRecord::from_json(r#"{"\u0041": 1, "B": 0, "A": 2, "\u0041": 3}"#).unwrap();
        assert_eq!(r.field_names().collect::<Vec<_>>(), ["A", "B"]);
        assert_eq!(r.member("A"), Some("3"));
        // Many members, in reverse order, sort as the reference does.
        let names: Vec<String> = (0..60).rev().map(|i| format!("F{i:02}")).collect();
        let json = format!(
            "{{{}}}",
            names
                .iter()
                .map(|n| format!("\"{n}\": \"{n}\""))
                .collect::<Vec<_>>()
                .join(",")
        );
        let r = SfRecord::from_json(&json).unwrap();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(r.field_names().collect::<Vec<_>>(), sorted);
        assert_eq!(r.text("F07").unwrap().as_deref(), Some("F07"));
        assert!(SfRecord::from_json("[1, 2]").is_err());
        assert!(SfRecord::from_json(r#"{"A": 1} trailing"#).is_err());
        assert!(SfRecord::from_json(r#"{"attributes": 3}"#).is_err());
    }
}
