//! Reading the org's API usage from `Sforce-Limit-Info`.

use crate::source::ApiUsage;

/// The response header Salesforce reports API usage in.
pub(crate) const LIMIT_INFO: &str = "sforce-limit-info";

/// Parses `api-usage=used/max` out of a `Sforce-Limit-Info` value, which
/// may carry other entries (`api-usage=18/5000; per-app-api-usage=17/250(appName=x)`).
pub(crate) fn parse_limit_info(value: &str) -> Option<ApiUsage> {
    value.split([';', ',']).find_map(|entry| {
        let (key, rest) = entry.trim().split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("api-usage") {
            return None;
        }
        let (used, max) = rest.trim().split_once('/')?;
        let max = max.trim();
        let digits = max.find(|c: char| !c.is_ascii_digit()).unwrap_or(max.len());
        Some(ApiUsage::new(
            used.trim().parse().ok()?,
            max[..digits].parse().ok()?,
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_api_usage() {
        let cases = [
            ("api-usage=18/5000", Some((18, 5000))),
            (
                "api-usage=25/15000; per-app-api-usage=17/250(appName=sample-app)",
                Some((25, 15000)),
            ),
            (
                "per-app-api-usage=17/250(appName=x); api-usage=3/100",
                Some((3, 100)),
            ),
            ("API-Usage = 7 / 70", Some((7, 70))),
            ("api-usage=x/5000", None),
            ("api-usage=18", None),
            ("", None),
        ];
        for (raw, want) in cases {
            let got = parse_limit_info(raw).map(|u| (u.used, u.max));
            assert_eq!(got, want, "{raw:?}");
        }
    }
}
