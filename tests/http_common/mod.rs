//! A small real HTTP/1.1 server on 127.0.0.1 for the hook tests: it
//! answers each request as its script says and keeps every request it
//! received, so a test can check exactly what was sent and how often.
//! One thread per connection, so a silent answer holds up nobody else.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What the server answers to one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    Redirect(String),
    /// Reads the request, then holds the connection open without answering.
    Silence,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Chooses the reply to a request from the request and how many came
/// before it.
type Script = Box<dyn FnMut(&Seen, usize) -> Reply + Send>;

pub struct Server {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    arrived: Receiver<()>,
}

impl Server {
    /// Answers the scripted replies in arrival order, one connection each,
    /// and accepts no connection after the last.
    pub fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let limit = replies.len();
        Self::spawn(
            listener,
            Some(limit),
            Box::new(move |_, n| replies[n].clone()),
        )
    }

    /// Answers `replies` in arrival order, then `after` to every request
    /// that follows (a repeat is answered, and counted, not refused).
    pub fn scripted(replies: Vec<Reply>, after: Reply) -> Self {
        Self::scripted_on(TcpListener::bind("127.0.0.1:0").unwrap(), replies, after)
    }

    /// [`Server::scripted`] on a listener the test already holds (a port
    /// chosen before the server was up).
    pub fn scripted_on(listener: TcpListener, replies: Vec<Reply>, after: Reply) -> Self {
        Self::spawn(
            listener,
            None,
            Box::new(move |_, n| replies.get(n).cloned().unwrap_or_else(|| after.clone())),
        )
    }

    /// Every reply chosen by `script` from the request itself.
    pub fn answering(script: impl FnMut(&Seen, usize) -> Reply + Send + 'static) -> Self {
        Self::spawn(
            TcpListener::bind("127.0.0.1:0").unwrap(),
            None,
            Box::new(script),
        )
    }

    fn spawn(listener: TcpListener, limit: Option<usize>, script: Script) -> Self {
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (tx, arrived) = mpsc::channel();
        let record = Arc::clone(&seen);
        let script = Arc::new(Mutex::new(script));
        thread::spawn(move || {
            let mut accepted = 0;
            while limit.is_none_or(|l| accepted < l) {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                accepted += 1;
                let (record, tx, script) = (Arc::clone(&record), tx.clone(), Arc::clone(&script));
                thread::spawn(move || serve(stream, &record, &tx, &script));
            }
        });
        Self {
            addr,
            seen,
            arrived,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks/done?x=1", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn wait_for_request(&self) {
        self.arrived.recv_timeout(Duration::from_secs(10)).unwrap();
    }
}

/// A port on 127.0.0.1 that nothing listens on (for now): bound, then let go.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve(stream: TcpStream, record: &Mutex<Vec<Seen>>, tx: &Sender<()>, script: &Mutex<Script>) {
    let Some(request) = read_request(&stream) else {
        return;
    };
    // The reply is chosen, and the request kept, under one lock: the
    // arrival order is the script's order.
    let reply = {
        let mut seen = record.lock().unwrap();
        let reply = (script.lock().unwrap())(&request, seen.len());
        seen.push(request);
        reply
    };
    let _ = tx.send(());
    answer(stream, &reply);
}

fn read_request(stream: &TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Seen {
        method,
        path,
        headers,
        body,
    })
}

fn answer(mut stream: TcpStream, reply: &Reply) {
    let head = match reply {
        Reply::Status(code) => format!("HTTP/1.1 {code} Scripted\r\n"),
        Reply::Redirect(to) => format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\n"),
        Reply::Silence => {
            // Hold the connection until the client gives up and closes it.
            let _ = stream.read_to_end(&mut Vec::new());
            return;
        }
    };
    let _ = write!(
        stream,
        "{head}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
}
