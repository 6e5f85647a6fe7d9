//! [`Records`]: a page's records read in one pass over its text.

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::order::sort_members;
use super::{Member, Name, SfRecord, span};

/// The records of a JSON array, read in one pass over text held in memory
/// (`serde_json::from_slice`, `from_str`; other deserializers cannot lend
/// their text): each member's name and raw value are borrowed from the
/// text and copied once into their record. [`SfRecord`]'s own
/// `Deserialize` takes a record's text whole first, then indexes it: two
/// passes.
#[derive(Debug, Default)]
pub(crate) struct Records(pub(crate) Vec<SfRecord>);

impl<'de> Deserialize<'de> for Records {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Seq;
        impl<'de> serde::de::Visitor<'de> for Seq {
            type Value = Records;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of records")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Records, A::Error> {
                let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                let mut scratch = Scratch::default();
                while let Some(record) = seq.next_element_seed(OnePass(&mut scratch))? {
                    records.push(record);
                }
                Ok(Records(records))
            }
        }
        d.deserialize_seq(Seq)
    }
}

/// Where [`OnePass`] builds a record: reused from one record to the next,
/// so that each record is allocated once, at its size.
#[derive(Default)]
struct Scratch {
    buf: String,
    members: Vec<Member>,
}

/// Reads one record's members into [`Scratch`]: each name (unescaped)
/// followed by its raw value.
struct OnePass<'s>(&'s mut Scratch);

impl<'de> serde::de::DeserializeSeed<'de> for OnePass<'_> {
    type Value = SfRecord;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<SfRecord, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for OnePass<'_> {
    type Value = SfRecord;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<SfRecord, A::Error> {
        let Scratch { buf, members } = self.0;
        buf.clear();
        members.clear();
        while let Some((name, value)) = map.next_entry::<Name<'de>, &'de RawValue>()? {
            let at = buf.len();
            buf.push_str(&name.0);
            let v = buf.len();
            buf.push_str(value.get());
            if buf.len() > u32::MAX as usize / 2 {
                return Err(A::Error::custom("record larger than 2 GiB"));
            }
            members.push(Member {
                name: span(at, v),
                value: span(v, buf.len()),
            });
        }
        sort_members(buf, members);
        SfRecord {
            buf: buf.as_str().to_owned(),
            members: members.as_slice().to_vec(),
        }
        .checked()
        .map_err(A::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page read in one pass holds the records two passes read: the same
    /// members and values, in the same order, with the same errors.
    #[test]
    fn records_read_in_one_pass_equal_records_read_whole() {
        let page = r#"[
            {"attributes": {"type": "Account", "url": "/a/1"}, "Id": "001000000000001AAA",
             "Name": "Acme \"Q\" Ünï", "B\u0069llingCity": "Paris", "Name": "later wins",
             "Nested": {"records": [{"Id": "003", "X": [1, 2, {"y": null}]}]},
             "Amount": 12.50, "Flag": true, "Empty": null, "Zip": "75001"},
            {"Id": "001000000000002AAA", "Name": "Two"},
            {},
            {"attributes": {"type": "Contact"}, "LastName": "\ud83d\ude00", "id": "x", "ID": "y"}
        ]"#;
        let whole: Vec<SfRecord> = serde_json::from_str(page).unwrap();
        let one = serde_json::from_str::<Records>(page).unwrap().0;
        assert_eq!(one.len(), whole.len());
        for (a, b) in one.iter().zip(&whole) {
            assert_eq!(
                serde_json::to_string(a).unwrap(),
                serde_json::to_string(b).unwrap()
            );
            assert_eq!(
                a.field_names().collect::<Vec<_>>(),
                b.field_names().collect::<Vec<_>>()
            );
            for name in b.field_names() {
                assert_eq!(a.member(name), b.member(name), "{name}");
            }
        }
        assert_eq!(one[0].text("Name").unwrap().as_deref(), Some("later wins"));
        assert_eq!(
            one[0].text("BillingCity").unwrap().as_deref(),
            Some("Paris")
        );
        assert_eq!(one[0].object(), Some(crate::SObject::ACCOUNT));
        // Both refuse what is not a record, and a bad attributes block.
        for bad in [
            r#"[1]"#,
            r#"[{"attributes": 3}]"#,
            r#"[{"A": 1,}]"#,
            r#"[{"A" 1}]"#,
        ] {
            assert!(serde_json::from_str::<Vec<SfRecord>>(bad).is_err(), "{bad}");
            assert!(serde_json::from_str::<Records>(bad).is_err(), "{bad}");
        }
    }
}
