//! One delivery attempt over HTTP.
//!
//! The caller owns retrying: an attempt says whether it was delivered,
//! whether trying again later may help, or whether it never will.

use std::error::Error as _;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION, USER_AGENT};
use sha2::Sha256;

use super::address::{Target, resolve_checked};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_MAX_ATTEMPTS: u32 = 6;

const DELIVERY_HEADER: &str = "X-Keeper-Delivery";
const SIGNATURE_HEADER: &str = "X-Keeper-Signature-256";
const USER_AGENT_VALUE: &str = concat!("keeper-tui/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub url: &'a str,
    pub body: &'a [u8],
    /// Stays the same across retries so the receiver can drop duplicates.
    pub delivery_id: &'a str,
    pub secret: Option<&'a [u8]>,
    pub allow_private: bool,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered { status: u16 },
    Retry { status: Option<u16>, why: String },
    Permanent { status: Option<u16>, why: String },
}

/// `sha256=` and the lowercase hex HMAC-SHA256 of `body` under `secret`,
/// so the receiver can tell the body came from someone holding the secret.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length; the Err arm cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        unreachable!("HMAC accepts keys of any length")
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Doubling spares a receiver that is struggling; the 30 s cap keeps one
/// that has recovered from waiting long. 0.5 s after the first failure,
/// nothing before any attempt.
pub fn backoff(attempts_made: u32) -> Duration {
    const CAP: Duration = Duration::from_secs(30);
    let Some(doublings) = attempts_made.checked_sub(1) else {
        return Duration::ZERO;
    };
    // 500 ms << 6 is already past the cap; stopping there avoids overflow.
    let millis = 500_u64 << doublings.min(6);
    Duration::from_millis(millis).min(CAP)
}

pub async fn post(req: &Request<'_>) -> Attempt {
    let target = match resolve_checked(req.url, req.allow_private).await {
        Ok(target) => target,
        Err(refusal) => {
            let why = refusal.to_string();
            return if refusal.is_permanent() {
                Attempt::Permanent { status: None, why }
            } else {
                Attempt::Retry { status: None, why }
            };
        }
    };
    let client = match client_for(&target, req.timeout) {
        Ok(client) => client,
        Err(err) => {
            return Attempt::Permanent {
                status: None,
                why: format!("HTTP client could not be set up: {}", chain(&err)),
            };
        }
    };
    let mut request = client
        .post(target.url.clone())
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, USER_AGENT_VALUE)
        .header(DELIVERY_HEADER, req.delivery_id)
        .body(req.body.to_vec());
    if let Some(secret) = req.secret {
        request = request.header(SIGNATURE_HEADER, signature(secret, req.body));
    }
    match request.send().await {
        Ok(response) => {
            let location = response
                .headers()
                .get(LOCATION)
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
            classify(response.status(), location.as_deref())
        }
        Err(err) => failed(&err, &target, req.timeout),
    }
}

/// A client that connects only to the address that was checked, follows
/// no redirect (the new location was never checked), ignores proxy
/// settings from the environment and sends exactly one request.
fn client_for(target: &Target, timeout: Duration) -> reqwest::Result<reqwest::Client> {
    // Once per process; later calls find it installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never())
        .no_proxy()
        .timeout(timeout);
    if let Some(domain) = target.url.domain() {
        builder = builder.resolve(domain, target.addr);
    }
    builder.build()
}

fn classify(status: StatusCode, location: Option<&str>) -> Attempt {
    let code = status.as_u16();
    let described = match status.canonical_reason() {
        Some(reason) => format!("HTTP {code} {reason}"),
        None => format!("HTTP {code}"),
    };
    if status.is_success() {
        Attempt::Delivered { status: code }
    } else if status.is_redirection() {
        let why = match location {
            Some(to) => format!("{described}: redirect to {to} not followed"),
            None => format!("{described}: redirect without a Location not followed"),
        };
        Attempt::Permanent {
            status: Some(code),
            why,
        }
    } else if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        Attempt::Retry {
            status: Some(code),
            why: described,
        }
    } else {
        Attempt::Permanent {
            status: Some(code),
            why: described,
        }
    }
}

/// The attempt for a request that got no response. The message names the
/// address, never the URL: its path or query may carry a token.
fn failed(err: &reqwest::Error, target: &Target, timeout: Duration) -> Attempt {
    let why = if err.is_timeout() {
        format!("no answer from {} within {timeout:?}", target.addr)
    } else if err.is_connect() {
        format!("could not connect to {}: {}", target.addr, chain(err))
    } else {
        format!("request to {} failed: {}", target.addr, chain(err))
    };
    if err.is_builder() {
        Attempt::Permanent { status: None, why }
    } else {
        Attempt::Retry { status: None, why }
    }
}

/// The error and its sources on one line, without the URL reqwest adds.
fn chain(err: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source = err.source();
    while let Some(cause) = source {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if text.is_empty() {
        // No source: reqwest's own words, which would name the URL.
        text.push_str("error without detail");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap() {
        let seconds: Vec<f64> = (0..=9).map(|n| backoff(n).as_secs_f64()).collect();
        assert_eq!(
            seconds,
            [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
        );
        assert_eq!(backoff(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn signature_matches_a_known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn statuses_are_classified() {
        let kind = |code: u16| match classify(StatusCode::from_u16(code).unwrap_or_default(), None)
        {
            Attempt::Delivered { .. } => "delivered",
            Attempt::Retry { .. } => "retry",
            Attempt::Permanent { .. } => "permanent",
        };
        for (code, want) in [
            (200, "delivered"),
            (204, "delivered"),
            (301, "permanent"),
            (400, "permanent"),
            (404, "permanent"),
            (408, "retry"),
            (410, "permanent"),
            (429, "retry"),
            (500, "retry"),
            (503, "retry"),
        ] {
            assert_eq!(kind(code), want, "{code}");
        }
    }
}
