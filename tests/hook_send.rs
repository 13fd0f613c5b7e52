//! One hook delivery attempt against real HTTP servers on 127.0.0.1:
//! headers and signature as received, how each status is answered, and
//! the addresses that are refused before anything is sent.
#![allow(clippy::unwrap_used, reason = "tests")]

mod http_common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use http_common::{Reply, Seen, Server};
use keeper_tui::hooks::send::{Attempt, Request, post};
use sha2::Sha256;

const BODY: &[u8] = br#"{"task":"t-42","state":"done","note":"caf\u00e9 \"quoted\""}"#;
const DELIVERY: &str = "d-7f3a";

fn request<'a>(url: &'a str, secret: Option<&'a [u8]>, allow_private: bool) -> Request<'a> {
    Request {
        url,
        body: BODY,
        delivery_id: DELIVERY,
        secret,
        allow_private,
        timeout: Duration::from_secs(5),
    }
}

async fn post_status(code: u16) -> (Attempt, Vec<Seen>) {
    let server = Server::start(vec![Reply::Status(code)]);
    let url = server.url();
    let attempt = post(&request(&url, None, true)).await;
    (attempt, server.seen())
}

fn why(attempt: &Attempt) -> &str {
    match attempt {
        Attempt::Retry { why, .. } | Attempt::Permanent { why, .. } => why,
        Attempt::Delivered { .. } => panic!("delivered: {attempt:?}"),
    }
}

#[tokio::test]
async fn ok_is_delivered_with_the_exact_body_and_headers() {
    let (attempt, seen) = post_status(200).await;
    assert_eq!(attempt, Attempt::Delivered { status: 200 });
    assert_eq!(seen.len(), 1);
    let got = &seen[0];
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/hooks/done?x=1");
    assert_eq!(got.body, BODY);
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(
        got.header("user-agent"),
        Some(concat!("keeper-tui/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(got.header("x-keeper-delivery"), Some(DELIVERY));
    assert_eq!(got.header("x-keeper-signature-256"), None);
}

#[tokio::test]
async fn signature_verifies_with_the_secret() {
    let server = Server::start(vec![Reply::Status(204)]);
    let url = server.url();
    let secret = b"s3cret-\x00-bytes";
    let attempt = post(&request(&url, Some(secret), true)).await;
    assert_eq!(attempt, Attempt::Delivered { status: 204 });
    let seen = server.seen();
    let header = seen[0].header("x-keeper-signature-256").unwrap();
    let hex_mac = header.strip_prefix("sha256=").unwrap();
    assert_eq!(hex_mac, hex_mac.to_ascii_lowercase());
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(BODY);
    mac.verify_slice(&hex::decode(hex_mac).unwrap()).unwrap();
}

#[tokio::test]
async fn server_error_is_retried() {
    let (attempt, seen) = post_status(500).await;
    assert!(matches!(
        attempt,
        Attempt::Retry {
            status: Some(500),
            ..
        }
    ));
    assert_eq!(seen.len(), 1);
}

#[tokio::test]
async fn not_found_is_permanent() {
    let (attempt, _) = post_status(404).await;
    assert!(matches!(
        attempt,
        Attempt::Permanent {
            status: Some(404),
            ..
        }
    ));
}

#[tokio::test]
async fn too_many_requests_is_retried() {
    let (attempt, _) = post_status(429).await;
    assert!(matches!(
        attempt,
        Attempt::Retry {
            status: Some(429),
            ..
        }
    ));
}

#[tokio::test]
async fn request_timeout_is_retried() {
    let (attempt, _) = post_status(408).await;
    assert!(matches!(
        attempt,
        Attempt::Retry {
            status: Some(408),
            ..
        }
    ));
}

#[tokio::test]
async fn redirect_is_not_followed() {
    let elsewhere = Server::start(vec![Reply::Status(200)]);
    let server = Server::start(vec![Reply::Redirect(elsewhere.url())]);
    let url = server.url();
    let attempt = post(&request(&url, None, true)).await;
    server.wait_for_request();
    assert!(matches!(
        attempt,
        Attempt::Permanent {
            status: Some(302),
            ..
        }
    ));
    assert!(
        why(&attempt).contains(&format!("redirect to {} not followed", elsewhere.url())),
        "{attempt:?}"
    );
    // The attempt has returned: a followed redirect would already be here.
    assert!(elsewhere.seen().is_empty());
}

#[tokio::test]
async fn loopback_is_refused_unless_allowed() {
    let server = Server::start(vec![Reply::Status(200)]);
    let url = server.url();
    let attempt = post(&request(&url, None, false)).await;
    assert!(matches!(attempt, Attempt::Permanent { status: None, .. }));
    assert!(why(&attempt).contains("loopback"), "{attempt:?}");
    assert!(why(&attempt).contains("allow_private"), "{attempt:?}");
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn private_address_is_refused() {
    let attempt = post(&request("http://10.0.0.1/", None, false)).await;
    assert!(matches!(attempt, Attempt::Permanent { status: None, .. }));
    assert!(why(&attempt).contains("private"), "{attempt:?}");
}

#[tokio::test]
async fn private_address_is_tried_when_allowed() {
    let mut req = request("http://10.0.0.1/", None, true);
    req.timeout = Duration::from_secs(1);
    let attempt = post(&req).await;
    match &attempt {
        // Usually nothing listens there and the connection fails or times
        // out. A network that intercepts outbound HTTP answers instead,
        // which proves just as well that the request was sent.
        Attempt::Retry { status: None, why } => assert!(
            why.starts_with("no answer from 10.0.0.1:80") || why.starts_with("could not connect"),
            "{why}"
        ),
        Attempt::Delivered { .. }
        | Attempt::Retry {
            status: Some(_), ..
        }
        | Attempt::Permanent {
            status: Some(_), ..
        } => {}
        Attempt::Permanent { status: None, why } => panic!("not sent: {why}"),
    }
}

#[tokio::test]
async fn mapped_private_address_is_refused() {
    let attempt = post(&request("http://[::ffff:10.0.0.1]/", None, false)).await;
    assert!(matches!(attempt, Attempt::Permanent { status: None, .. }));
    assert!(why(&attempt).contains("private"), "{attempt:?}");
}

#[tokio::test]
async fn unresolved_name_is_retried() {
    let attempt = post(&request("http://no-such-host.invalid/", None, false)).await;
    assert!(
        matches!(attempt, Attempt::Retry { status: None, .. }),
        "{attempt:?}"
    );
    assert!(
        why(&attempt).contains("no-such-host.invalid"),
        "{attempt:?}"
    );
    assert!(why(&attempt).contains("nothing was sent"), "{attempt:?}");
}

#[tokio::test]
async fn other_scheme_is_permanent_and_quoted() {
    let attempt = post(&request("ftp://x/", None, true)).await;
    assert!(matches!(attempt, Attempt::Permanent { status: None, .. }));
    assert!(why(&attempt).contains("\"ftp://x/\""), "{attempt:?}");
}

#[tokio::test]
async fn unparsable_url_is_permanent_and_quoted() {
    let attempt = post(&request("not a url", None, true)).await;
    assert!(matches!(attempt, Attempt::Permanent { status: None, .. }));
    assert!(why(&attempt).contains("\"not a url\""), "{attempt:?}");
}

#[tokio::test]
async fn silent_server_is_retried_after_the_timeout() {
    let server = Server::start(vec![Reply::Silence]);
    let url = server.url();
    let mut req = request(&url, Some(b"k"), true);
    req.timeout = Duration::from_secs(1);
    let started = Instant::now();
    let attempt = post(&req).await;
    let took = started.elapsed();
    assert!(
        matches!(attempt, Attempt::Retry { status: None, .. }),
        "{attempt:?}"
    );
    assert!(why(&attempt).starts_with("no answer from"), "{attempt:?}");
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn refused_connection_is_retried() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/");
    let attempt = post(&request(&url, None, true)).await;
    assert!(
        matches!(attempt, Attempt::Retry { status: None, .. }),
        "{attempt:?}"
    );
    assert!(
        why(&attempt).starts_with(&format!("could not connect to 127.0.0.1:{port}")),
        "{attempt:?}"
    );
}

/// `https://` goes through TLS: to a server that answers in plain HTTP the
/// handshake fails, and that is an attempt that failed, said so, not a
/// crash nor a delivery.
#[tokio::test]
async fn https_goes_through_tls() {
    let server = Server::start(vec![Reply::Status(200)]);
    let url = server.url().replacen("http://", "https://", 1);
    let attempt = post(&request(&url, None, true)).await;
    assert!(!matches!(attempt, Attempt::Delivered { .. }), "{attempt:?}");
    let why = why(&attempt).to_lowercase();
    assert!(why.contains("tls handshake"), "{why}");
}
