//! How an [`SfRecord`] holds its members: the record's JSON text once, and
//! a sorted list of spans of it, one a member.

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

/// The members of one JSON object, borrowed from its text.
struct Members<'a>(Vec<(Name<'a>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(32));
                while let Some(entry) = map.next_entry::<Name<'de>, &'de RawValue>()? {
                    out.push(entry);
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Member names in ASCII-case-insensitive order, ties broken by exact
/// order: one binary search finds a name, or the same name in another case
/// (Data Loader CSV exports upper-case every column).
fn name_order(a: &str, b: &str) -> Ordering {
    // By hand: every getter's binary search runs this.
    let (x, y) = (a.as_bytes(), b.as_bytes());
    for (p, q) in x.iter().zip(y) {
        if p != q {
            let (p, q) = (p.to_ascii_lowercase(), q.to_ascii_lowercase());
            if p != q {
                return p.cmp(&q);
            }
        }
    }
    x.len().cmp(&y.len()).then_with(|| a.cmp(b))
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

impl SfRecord {
    /// Indexes `text`, one JSON object, into a record.
    fn index(mut buf: String) -> Result<SfRecord, serde_json::Error> {
        use serde::de::Error as _;
        if buf.len() > u32::MAX as usize / 2 {
            return Err(serde_json::Error::custom("record larger than 2 GiB"));
        }
        let mut members = Vec::new();
        let mut unescaped: Vec<(usize, String)> = Vec::new();
        {
            let parsed: Members<'_> = serde_json::from_str(&buf)?;
            members.reserve_exact(parsed.0.len());
            for (i, (name, value)) in parsed.0.into_iter().enumerate() {
                let v = offset_in(&buf, value.get());
                let value = span(v, v + value.get().len());
                let name = match name.0 {
                    Cow::Borrowed(n) => {
                        let at = offset_in(&buf, n);
                        span(at, at + n.len())
                    }
                    Cow::Owned(n) => {
                        unescaped.push((i, n));
                        span(0, 0)
                    }
                };
                members.push(Member { name, value });
            }
        }
        for (i, name) in unescaped {
            let at = buf.len();
            buf.push_str(&name);
            members[i].name = span(at, buf.len());
        }
        let mut rec = SfRecord { buf, members };
        rec.sort_members();
        if let Some(attrs) = rec.member("attributes") {
            serde_json::from_str::<Attributes>(attrs)
                .map_err(|e| serde_json::Error::custom(format!("bad attributes block: {e}")))?;
        }
        Ok(rec)
    }

    pub(super) fn text_of(&self, s: Span) -> &str {
        &self.buf[s.start as usize..s.end as usize]
    }

    /// Sorts by name ([`name_order`]), keeping the last of duplicates
    /// (stable sort, then keep the last of each run).
    fn sort_members(&mut self) {
        let buf = &self.buf;
        let name = |m: &Member| &buf[m.name.start as usize..m.name.end as usize];
        if self
            .members
            .is_sorted_by(|a, b| name_order(name(a), name(b)) == Ordering::Less)
        {
            return;
        }
        self.members.sort_by(|a, b| name_order(name(a), name(b)));
        let mut out: Vec<Member> = Vec::with_capacity(self.members.len());
        for m in self.members.drain(..) {
            match out.last_mut() {
                Some(last) if name(last) == name(&m) => *last = m,
                _ => out.push(m),
            }
        }
        self.members = out;
    }

    /// Where the member named exactly `field` is (or would go).
    pub(super) fn position(&self, field: &str) -> Result<usize, usize> {
        self.members
            .binary_search_by(|m| name_order(self.text_of(m.name), field))
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
                assert_eq!(name_order(a, b), reference(a, b), "{a:?} vs {b:?}");
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
        assert!(SfRecord::from_json("[1, 2]").is_err());
        assert!(SfRecord::from_json(r#"{"attributes": 3}"#).is_err());
    }
}
