//! Who may post callbacks: the SdkAppid check and Tencent's optional token signature,
//! `Sign = hex(sha256(token + RequestTime))` within a time window.

use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ingest::query::QueryParams;
use crate::protocol::Rejection;

/// The receiver's expectations, from the command line.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// The apps whose callbacks are accepted; empty accepts any SdkAppid.
    pub sdkappids: Vec<String>,
    /// `None` turns signature checks off.
    pub token: Option<String>,
    /// Largest allowed distance between `RequestTime` and now, in seconds.
    pub window_s: u64,
}

/// How a callback that passed authenticated itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthVerdict {
    /// A token is configured and the signature was right.
    Signed,
    /// No token is configured, so nothing was checked.
    Unchecked,
}

/// Lowercase hex of sha256(token + request_time).
pub fn sign(token: &str, request_time: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(token.as_bytes());
    hasher.update(request_time.as_bytes());
    hex::encode(hasher.finalize())
}

/// Checks SdkAppid, then the signature when a token is configured. `now_s` is Unix seconds.
pub fn verify(
    config: &AuthConfig,
    query: &QueryParams,
    now_s: i64,
) -> Result<AuthVerdict, Rejection> {
    if !config.sdkappids.is_empty() {
        match query.get("SdkAppid") {
            None | Some("") => return Err(Rejection::SdkAppidMissing),
            Some(got) if !config.sdkappids.iter().any(|id| id == got.trim()) => {
                return Err(Rejection::SdkAppidMismatch {
                    expected: config.sdkappids.join(" or "),
                    got: got.to_string(),
                });
            }
            Some(_) => {}
        }
    }
    let Some(token) = &config.token else {
        return Ok(AuthVerdict::Unchecked);
    };
    let sign_given = query
        .get("Sign")
        .filter(|s| !s.is_empty())
        .ok_or(Rejection::SignMissing)?;
    let request_time = query
        .get("RequestTime")
        .filter(|s| !s.is_empty())
        .ok_or(Rejection::RequestTimeMissing)?;
    let seconds: i64 = request_time
        .trim()
        .parse()
        .map_err(|_| Rejection::RequestTimeMalformed(request_time.to_string()))?;
    let skew_s = now_s.saturating_sub(seconds);
    if skew_s.unsigned_abs() > config.window_s {
        return Err(Rejection::RequestTimeStale {
            skew_s,
            window_s: config.window_s,
        });
    }
    let expected = sign(token, request_time);
    let given = sign_given.trim().to_ascii_lowercase();
    if bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        Ok(AuthVerdict::Signed)
    } else {
        Err(Rejection::SignMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_669_872_112;

    fn config(token: Option<&str>) -> AuthConfig {
        AuthConfig {
            sdkappids: vec!["1400000001".into()],
            token: token.map(Into::into),
            window_s: 60,
        }
    }

    fn query(text: &str) -> QueryParams {
        QueryParams::parse(Some(text))
    }

    #[test]
    fn known_answer_from_the_docs() {
        assert_eq!(
            sign("xxxxyyyy", "1669872112"),
            "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
        );
    }

    #[test]
    fn accepts_a_good_signature_in_any_param_case() {
        let q = query(
            "sdkappid=1400000001&sign=17773BC39A671D7B9AA835458704D2A6DB81360A5940292B587D6D760D484061&requesttime=1669872112",
        );
        assert_eq!(
            verify(&config(Some("xxxxyyyy")), &q, NOW + 59),
            Ok(AuthVerdict::Signed)
        );
    }

    #[test]
    fn rejections() {
        let c = config(Some("xxxxyyyy"));
        let good = sign("xxxxyyyy", "1669872112");
        assert_eq!(verify(&c, &query(""), NOW), Err(Rejection::SdkAppidMissing));
        assert!(matches!(
            verify(&c, &query("SdkAppid=1"), NOW),
            Err(Rejection::SdkAppidMismatch { .. })
        ));
        assert_eq!(
            verify(&c, &query("SdkAppid=1400000001"), NOW),
            Err(Rejection::SignMissing)
        );
        assert_eq!(
            verify(&c, &query(&format!("SdkAppid=1400000001&Sign={good}")), NOW),
            Err(Rejection::RequestTimeMissing)
        );
        assert!(matches!(
            verify(
                &c,
                &query(&format!("SdkAppid=1400000001&Sign={good}&RequestTime=soon")),
                NOW
            ),
            Err(Rejection::RequestTimeMalformed(_))
        ));
        assert_eq!(
            verify(
                &c,
                &query(&format!(
                    "SdkAppid=1400000001&Sign={good}&RequestTime=1669872112"
                )),
                NOW + 61
            ),
            Err(Rejection::RequestTimeStale {
                skew_s: 61,
                window_s: 60
            })
        );
        assert_eq!(
            verify(
                &c,
                &query("SdkAppid=1400000001&Sign=00&RequestTime=1669872112"),
                NOW
            ),
            Err(Rejection::SignMismatch)
        );
    }

    #[test]
    fn no_token_means_unchecked_and_no_sdkappid_means_any() {
        let open = AuthConfig {
            window_s: 60,
            ..AuthConfig::default()
        };
        assert_eq!(verify(&open, &query(""), NOW), Ok(AuthVerdict::Unchecked));
        assert_eq!(
            verify(&config(None), &query("SdkAppId=1400000001"), NOW),
            Ok(AuthVerdict::Unchecked)
        );
    }

    #[test]
    fn a_list_accepts_each_of_its_apps_and_refuses_others() {
        let two = AuthConfig {
            sdkappids: vec!["1400000001".into(), "1400000002".into()],
            window_s: 60,
            ..AuthConfig::default()
        };
        for app in ["1400000001", "1400000002", " 1400000002 "] {
            assert_eq!(
                verify(&two, &query(&format!("SdkAppid={app}")), NOW),
                Ok(AuthVerdict::Unchecked),
                "{app}"
            );
        }
        assert_eq!(
            verify(&two, &query("SdkAppid=1400000003"), NOW),
            Err(Rejection::SdkAppidMismatch {
                expected: "1400000001 or 1400000002".into(),
                got: "1400000003".into(),
            })
        );
        assert_eq!(
            verify(&two, &query(""), NOW),
            Err(Rejection::SdkAppidMissing)
        );
    }
}
