//! Salesforce's spellings of values: datetimes, dates, numbers and JSON
//! strings, the hand-written fast paths before chrono's and serde's.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;

/// Parses Salesforce datetimes: `2024-01-31T17:03:00.000+0000` (offset
/// without a colon, which RFC 3339 parsers reject), `...Z`, `...+00:00`,
/// with or without fractional seconds.
pub(crate) fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    if let Some(dt) = fast_datetime(s) {
        return Some(dt);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
            return Some(dt.with_timezone(&Utc));
        }
    }
    // No offset at all: Salesforce means UTC.
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// `n` ASCII digits as a number.
fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// `YYYY-MM-DD` exactly, without chrono's format interpreter.
pub(super) fn fast_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    NaiveDate::from_ymd_opt(
        i32::try_from(digits(&b[..4])?).ok()?,
        digits(&b[5..7])?,
        digits(&b[8..10])?,
    )
}

/// The spellings Salesforce itself sends (`2024-01-31T17:03:00.000+0000`,
/// `...Z`, `...+00:00`), parsed by hand: the hot path of every page.
/// `None` for anything else, which the general parsers then try.
fn fast_datetime(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() < 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let date = fast_date(&s[..10])?;
    let (h, m, sec) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    let mut rest = &b[19..];
    let mut nanos = 0;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        nanos = digits(&frac[..n])? * 10u32.pow(9 - n as u32);
        rest = &frac[n..];
    }
    let offset = match rest {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), hh @ ..] if hh.len() == 4 || (hh.len() == 5 && hh[2] == b':') => {
            let (oh, om) = (digits(&hh[..2])?, digits(&hh[hh.len() - 2..])?);
            if oh >= 24 || om >= 60 {
                return None;
            }
            let secs = i64::from(oh * 3600 + om * 60);
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    if sec >= 60 {
        return None;
    }
    let local = date.and_hms_nano_opt(h, m, sec, nanos)?;
    Some((local - chrono::TimeDelta::seconds(offset)).and_utc())
}

/// The contents of a JSON string, borrowed when it has no escapes.
pub(super) fn unquote(raw: Cow<'_, str>) -> Option<Cow<'_, str>> {
    match raw {
        Cow::Borrowed(r) => match r.strip_prefix('"').and_then(|i| i.strip_suffix('"')) {
            // Bytes, not chars: both are ASCII, and this runs for every text.
            Some(inner) if !inner.bytes().any(|b| b == b'\\' || b == b'"') => {
                Some(Cow::Borrowed(inner))
            }
            _ => serde_json::from_str::<String>(r).ok().map(Cow::Owned),
        },
        Cow::Owned(r) => serde_json::from_str::<String>(&r).ok().map(Cow::Owned),
    }
}

pub(super) fn parse_decimal(s: &str) -> Option<Decimal> {
    let s = s.trim();
    if s.is_empty() || s.contains(['_', ' ']) {
        return None;
    }
    if s.contains(['e', 'E']) {
        return Decimal::from_scientific(s).ok();
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    Decimal::from_str_exact(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hand_parsed_datetimes_agree_with_chrono() {
        let slow = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .ok()
                .or_else(|| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z").ok())
                .map(|d| d.with_timezone(&Utc))
        };
        for s in [
            "2024-01-31T17:03:00.000+0000",
            "2024-01-31T17:03:00.1+0000",
            "2024-01-31T17:03:00.123456789Z",
            "2024-01-31T17:03:00Z",
            "2024-01-31T23:59:59.999-0530",
            "2024-01-01T00:30:00.000+01:00",
            "2024-02-29T12:00:00+14:00",
        ] {
            assert!(fast_datetime(s).is_some(), "{s}");
            assert_eq!(fast_datetime(s), slow(s), "{s}");
        }
        // Not Salesforce's spelling, or not valid: left to the general parsers.
        for s in [
            "2024-02-30T17:03:00Z",
            "2024-01-31T24:00:00Z",
            "2024-01-31T17:03:60Z",
            "2024-01-31t17:03:00Z",
            "2024-01-31T17:03:00.+0000",
            "2024-01-31T17:03:00+2400",
            "2024-01-31T17:03:00.000",
            "2024-01-31T17:03:00 +0000",
        ] {
            assert_eq!(fast_datetime(s), None, "{s}");
        }
        assert_eq!(
            fast_date("2024-02-29"),
            NaiveDate::from_ymd_opt(2024, 2, 29)
        );
        assert_eq!(fast_date("2023-02-29"), None);
        assert_eq!(fast_date("2024-2-29"), None);
    }
}
