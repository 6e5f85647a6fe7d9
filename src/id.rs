//! Identifier newtypes: Salesforce ids, CRM ids, tenants and jobs.
//!
//! Each is a distinct type so that a CRM id can never stand in for a
//! Salesforce id. [`SfId`] is validated once, where data enters, and kept in
//! its 18-character form after that.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A Salesforce record id, always held in its 18-character,
/// case-insensitive form.
///
/// Salesforce shows ids in two spellings: the 15-character, case-sensitive
/// one (in the UI and in old exports) and the 18-character one with a
/// three-character checksum suffix (in the API). Both spellings of one record
/// parse to the same `SfId`, so a re-run that sees the other spelling still
/// deduplicates.
///
/// ```
/// use salesforce_import::SfId;
/// let short = SfId::parse("001x0000002xLCV")?;
/// let long = SfId::parse("001x0000002xLCVAA2")?;
/// assert_eq!(short, long);
/// assert_eq!(short.as_str(), "001x0000002xLCVAA2");
/// assert_eq!(short.key_prefix(), "001");
/// assert!(SfId::parse("001x0000002xLCVZZZ").is_err()); // wrong checksum
/// # Ok::<(), salesforce_import::InvalidSfId>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SfId(Box<str>);

/// The error returned when a string is not a Salesforce id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Salesforce id: {raw:?} ({reason})")]
pub struct InvalidSfId {
    raw: String,
    reason: &'static str,
}

impl InvalidSfId {
    /// The text that failed to parse (cut to 40 characters).
    pub fn raw(&self) -> &str {
        &self.raw
    }
}

const SUFFIX_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

fn checksum(id15: &[u8]) -> [u8; 3] {
    let mut out = [0u8; 3];
    for (chunk, slot) in id15.chunks(5).zip(out.iter_mut()) {
        let bits = chunk
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_ascii_uppercase())
            .fold(0usize, |acc, (i, _)| acc | (1 << i));
        *slot = SUFFIX_ALPHABET[bits];
    }
    out
}

impl SfId {
    /// Parses a 15- or 18-character Salesforce id.
    ///
    /// An 18-character id must carry the checksum of its first 15
    /// characters (compared case-insensitively, as Salesforce does).
    pub fn parse(raw: &str) -> Result<SfId, InvalidSfId> {
        let fail = |reason| InvalidSfId {
            raw: raw.chars().take(40).collect(),
            reason,
        };
        let bytes = raw.as_bytes();
        if !bytes.iter().all(u8::is_ascii_alphanumeric) {
            return Err(fail("only letters and digits are allowed"));
        }
        match bytes.len() {
            15 => {
                let mut id = String::with_capacity(18);
                id.push_str(raw);
                id.extend(checksum(bytes).iter().map(|&b| b as char));
                Ok(SfId(id.into()))
            }
            18 => {
                let want = checksum(&bytes[..15]);
                if !bytes[15..].eq_ignore_ascii_case(&want) {
                    return Err(fail("checksum suffix does not match"));
                }
                let mut id = String::with_capacity(18);
                id.push_str(&raw[..15]);
                id.extend(want.iter().map(|&b| b as char));
                Ok(SfId(id.into()))
            }
            _ => Err(fail("must be 15 or 18 characters long")),
        }
    }

    /// The 18-character form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 18 ASCII bytes, for stores that keep ids inline.
    pub(crate) fn to_bytes(&self) -> [u8; 18] {
        self.0
            .as_bytes()
            .try_into()
            .expect("an SfId has 18 characters")
    }

    /// An id from [`to_bytes`](SfId::to_bytes).
    pub(crate) fn from_bytes(bytes: [u8; 18]) -> SfId {
        let text = std::str::from_utf8(&bytes).expect("from to_bytes");
        SfId(text.into())
    }

    /// The 15-character, case-sensitive form.
    pub fn to_15(&self) -> &str {
        &self.0[..15]
    }

    /// The three-character key prefix that names the object type
    /// (`001` Account, `003` Contact, `006` Opportunity, ...).
    pub fn key_prefix(&self) -> &str {
        &self.0[..3]
    }
}

impl fmt::Debug for SfId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SfId({})", self.0)
    }
}

impl fmt::Display for SfId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for SfId {
    type Err = InvalidSfId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SfId::parse(s)
    }
}

impl TryFrom<String> for SfId {
    type Error = InvalidSfId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        SfId::parse(&s)
    }
}

impl From<SfId> for String {
    fn from(id: SfId) -> String {
        id.0.into()
    }
}

impl AsRef<str> for SfId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The text of a [`CrmId`], [`JobId`] or [`TenantId`]: up to
/// [`IdText::INLINE`] bytes inline, a longer one shared. Ids are cloned into
/// every mapping, link and log line: a number or a short key then copies 24
/// bytes and never allocates, and a UUID costs one shared allocation
/// however often it is cloned.
#[derive(Clone)]
enum IdText {
    Inline {
        len: u8,
        bytes: [u8; IdText::INLINE],
    },
    Shared(Arc<str>),
}

impl IdText {
    const INLINE: usize = 22;

    fn new(text: &str) -> IdText {
        match text.len() {
            len @ 0..=IdText::INLINE => {
                let mut bytes = [0; IdText::INLINE];
                bytes[..len].copy_from_slice(text.as_bytes());
                IdText::Inline {
                    len: len as u8,
                    bytes,
                }
            }
            _ => IdText::Shared(text.into()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            IdText::Inline { len, bytes } => {
                // Copied whole from a `str` by `new`.
                std::str::from_utf8(&bytes[..usize::from(*len)]).expect("an id is UTF-8")
            }
            IdText::Shared(text) => text,
        }
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(IdText);

        impl $name {
            #[doc = concat!("Wraps a ", $what, ".")]
            pub fn new(id: impl Into<String>) -> Self {
                Self(IdText::new(&id.into()))
            }

            #[doc = concat!("The ", $what, " as text.")]
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.as_str() == other.as_str()
            }
        }

        impl Eq for $name {}

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Ord for $name {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.as_str().cmp(other.as_str())
            }
        }

        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.as_str().hash(state)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok(Self(IdText::new(&String::deserialize(d)?)))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.as_str())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(IdText::new(s))
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(IdText::new(&s))
            }
        }
    };
}

string_id!(
    /// The id a [`CrmSink`](crate::CrmSink) gave a record it wrote: opaque
    /// text (a UUID, a number, whatever the host's CRM uses).
    CrmId,
    "CRM record id"
);

string_id!(
    /// The id of an import job, assigned by the [`JobStore`](crate::JobStore).
    JobId,
    "job id"
);

string_id!(
    /// One customer of the host CRM (an organisation, a workspace). Every
    /// read and write of every port is scoped to one tenant.
    TenantId,
    "tenant id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifteen_and_eighteen_are_one_id() {
        // Pairs from Salesforce's documentation and the Data Loader sample export.
        for (short, long) in [
            ("001x0000002xLCV", "001x0000002xLCVAA2"),
            ("0015000000Gv7qJ", "0015000000Gv7qJAAR"),
            ("a0Z000000000001", "a0Z000000000001EAA"),
        ] {
            let a = SfId::parse(short).unwrap();
            let b = SfId::parse(long).unwrap();
            assert_eq!(a, b, "{short} vs {long}");
            assert_eq!(a.as_str(), long);
            assert_eq!(a.to_15(), short);
        }
    }

    #[test]
    fn suffix_is_case_insensitive_and_normalised() {
        let id = SfId::parse("001x0000002xLCVaa2").unwrap();
        assert_eq!(id.as_str(), "001x0000002xLCVAA2");
    }

    #[test]
    fn rejects_bad_ids() {
        for bad in [
            "",
            "001",
            "001x0000002xLCVA",
            "001x0000002xLCVZZZ",
            "001x0000002xLC-AA2",
            "003XXXXXXXXXXXXXXX",
            "001x0000002xLCVAA2 ",
            "001x0000002xLCVAA2001x0000002xLCVAA2",
        ] {
            let err = SfId::parse(bad).unwrap_err();
            assert!(err.to_string().contains("not a Salesforce id"), "{bad}");
        }
    }

    #[test]
    fn case_matters_in_the_first_fifteen() {
        let upper = SfId::parse("001x0000002xLCV").unwrap();
        let lower = SfId::parse("001x0000002xlcv").unwrap();
        assert_ne!(upper, lower);
    }

    #[test]
    fn short_and_long_ids_behave_alike() {
        use std::collections::HashSet;
        let texts = [
            "",
            "42",
            "1234567890123456789012",  // 22 bytes: the last inline
            "12345678901234567890123", // 23: the first shared
            "5f0c7d5e-8a7b-4c1e-9a0b-1c2d3e4f5a6b", // a UUID
            "ünïcödé-ïd",              // multi-byte text
        ];
        let mut seen = HashSet::new();
        for t in texts {
            let id = CrmId::new(t);
            assert_eq!(id.as_str(), t);
            assert_eq!(id.to_string(), t);
            assert_eq!(format!("{id:?}"), format!("CrmId({t})"));
            assert_eq!(id.clone(), CrmId::from(t.to_owned()));
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(json, serde_json::to_string(t).unwrap());
            assert_eq!(serde_json::from_str::<CrmId>(&json).unwrap(), id);
            assert!(seen.insert(id.clone()), "{t:?} hashed like another");
            assert!(seen.contains(&CrmId::new(t)));
        }
        let mut sorted: Vec<CrmId> = texts.iter().map(|t| CrmId::new(*t)).collect();
        sorted.sort();
        let mut want = texts.to_vec();
        want.sort();
        assert_eq!(sorted.iter().map(CrmId::as_str).collect::<Vec<_>>(), want);
        assert_eq!(std::mem::size_of::<CrmId>(), 24);
    }

    #[test]
    fn serde_round_trip_validates() {
        let id: SfId = serde_json::from_str("\"001x0000002xLCV\"").unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"001x0000002xLCVAA2\""
        );
        assert!(serde_json::from_str::<SfId>("\"nope\"").is_err());
    }
}
