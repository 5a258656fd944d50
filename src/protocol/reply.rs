//! What roomwatch answers: Tencent's success body, and one documented code per rejection.

use serde::{Deserialize, Serialize};

/// The exact body Tencent expects for a handled callback.
pub const ACK_OK: &str = r#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#;

/// Why a callback was refused. Each has its own HTTP status and `ErrorCode`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum Rejection {
    #[error("SdkAppid is missing from the query string")]
    SdkAppidMissing,
    #[error("SdkAppid {got} is not the expected {expected}")]
    SdkAppidMismatch { expected: String, got: String },
    #[error("Sign is missing from the query string (token auth is on)")]
    SignMissing,
    #[error("Sign does not match sha256(token + RequestTime)")]
    SignMismatch,
    #[error("RequestTime is missing from the query string (token auth is on)")]
    RequestTimeMissing,
    #[error("RequestTime {0:?} is not a Unix time in seconds")]
    RequestTimeMalformed(String),
    #[error("RequestTime is {skew_s} s from now, outside the {window_s} s window")]
    RequestTimeStale { skew_s: i64, window_s: u64 },
    #[error("body is empty")]
    EmptyBody,
    #[error("body is not JSON: {message} at line {line} column {column}")]
    NotJson {
        message: String,
        line: usize,
        column: usize,
    },
    #[error("body is a JSON {found}, expected an object")]
    NotObject { found: String },
    #[error("CallbackCommand {query:?} in the query disagrees with {body:?} in the body")]
    CommandMismatch { query: String, body: String },
    #[error("body ended early: {0}")]
    BodyIncomplete(String),
    #[error("body is larger than the {limit} byte limit")]
    BodyTooLarge { limit: usize },
    #[error("method {0} is not allowed: callbacks are POSTed")]
    MethodNotAllowed(String),
    #[error("callbacks from {0} are not accepted (--allow-from)")]
    SourceNotAllowed(String),
}

impl Rejection {
    /// The HTTP status sent with this rejection.
    pub fn status(&self) -> u16 {
        match self {
            Self::SdkAppidMissing | Self::SdkAppidMismatch { .. } | Self::SourceNotAllowed(_) => {
                403
            }
            Self::SignMissing
            | Self::SignMismatch
            | Self::RequestTimeMissing
            | Self::RequestTimeMalformed(_)
            | Self::RequestTimeStale { .. } => 401,
            Self::EmptyBody
            | Self::NotJson { .. }
            | Self::NotObject { .. }
            | Self::CommandMismatch { .. }
            | Self::BodyIncomplete(_) => 400,
            Self::BodyTooLarge { .. } => 413,
            Self::MethodNotAllowed(_) => 405,
        }
    }

    /// The `ErrorCode` in the answer body; the README documents the table.
    pub fn code(&self) -> u32 {
        match self {
            Self::SdkAppidMissing => 40301,
            Self::SdkAppidMismatch { .. } => 40302,
            Self::SignMissing => 40101,
            Self::SignMismatch => 40102,
            Self::RequestTimeMissing => 40103,
            Self::RequestTimeMalformed(_) => 40104,
            Self::RequestTimeStale { .. } => 40105,
            Self::EmptyBody => 40001,
            Self::NotJson { .. } => 40002,
            Self::NotObject { .. } => 40003,
            Self::CommandMismatch { .. } => 40004,
            Self::BodyIncomplete(_) => 40005,
            Self::BodyTooLarge { .. } => 41301,
            Self::MethodNotAllowed(_) => 40501,
            Self::SourceNotAllowed(_) => 40303,
        }
    }

    /// The answer body: `{"ActionStatus":"FAIL","ErrorInfo":...,"ErrorCode":...}`, keys in the
    /// order Tencent's own answers use.
    pub fn body(&self) -> String {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Answer {
            action_status: &'static str,
            error_info: String,
            error_code: u32,
        }
        let answer = Answer {
            action_status: "FAIL",
            error_info: self.to_string(),
            error_code: self.code(),
        };
        serde_json::to_string(&answer).expect("strings and a number always serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique() {
        let all = [
            Rejection::SdkAppidMissing,
            Rejection::SdkAppidMismatch {
                expected: "1".into(),
                got: "2".into(),
            },
            Rejection::SignMissing,
            Rejection::SignMismatch,
            Rejection::RequestTimeMissing,
            Rejection::RequestTimeMalformed("x".into()),
            Rejection::RequestTimeStale {
                skew_s: 61,
                window_s: 60,
            },
            Rejection::EmptyBody,
            Rejection::NotJson {
                message: "m".into(),
                line: 1,
                column: 1,
            },
            Rejection::NotObject {
                found: "array".into(),
            },
            Rejection::CommandMismatch {
                query: "a".into(),
                body: "b".into(),
            },
            Rejection::BodyTooLarge { limit: 1 },
            Rejection::BodyIncomplete("reset".into()),
            Rejection::MethodNotAllowed("GET".into()),
            Rejection::SourceNotAllowed("192.0.2.1".into()),
        ];
        let mut codes: Vec<u32> = all.iter().map(Rejection::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        for rejection in &all {
            assert_eq!(rejection.code() / 100, u32::from(rejection.status()));
        }
    }
}
