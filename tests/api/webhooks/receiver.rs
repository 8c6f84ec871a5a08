//! A webhook receiver for the tests: a small HTTP/1.1 server on `127.0.0.1:0` that records every
//! request (path, headers, body, when it came) and answers 500 to as many requests as it is told
//! to fail, 200 to the rest. One request per connection (`connection: close`).

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
    time::Instant,
};

/// One request the receiver got, and what it answered.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    /// Header names in lowercase.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub status: u16,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    /// Requests still to answer 500.
    failing: usize,
}

/// The running receiver; stops when dropped.
pub struct Receiver {
    pub address: SocketAddr,
    state: Arc<Mutex<State>>,
    count: watch::Receiver<usize>,
    task: JoinHandle<()>,
}

impl Receiver {
    /// Starts a receiver that answers 500 to its first `failing` requests.
    pub async fn start(failing: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let state = Arc::new(Mutex::new(State {
            failing,
            ..State::default()
        }));
        let (counter, count) = watch::channel(0);
        let counter = Arc::new(counter);
        let task = {
            let state = state.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    tokio::spawn(answer(stream, state.clone(), counter.clone()));
                }
            })
        };
        Self {
            address,
            state,
            count,
            task,
        }
    }

    /// The URL of `path` on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// From now on, answers 500 to the next `failing` requests and 200 after them.
    pub fn fail_next(&self, failing: usize) {
        self.state.lock().expect("state").failing = failing;
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("state").received.clone()
    }

    /// Waits until what was received satisfies `done`; fails the test after `within`.
    pub async fn wait_for(
        &self,
        within: Duration,
        what: &str,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let mut count = self.count.clone();
        let deadline = Instant::now() + within;
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            if tokio::time::timeout_at(deadline, count.changed())
                .await
                .is_err()
            {
                panic!(
                    "{what}: not within {within:?}; received {:#?}",
                    self.received()
                );
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request, records it, answers it.
async fn answer(
    mut stream: TcpStream,
    state: Arc<Mutex<State>>,
    counter: Arc<watch::Sender<usize>>,
) {
    let Some((path, headers, body)) = read_request(&mut stream).await else {
        return;
    };
    let status = {
        let mut state = state.lock().expect("state");
        let status = if state.failing > 0 {
            state.failing -= 1;
            500
        } else {
            200
        };
        state.received.push(Received {
            path,
            headers,
            body,
            status,
            at: Instant::now(),
        });
        counter.send_replace(state.received.len());
        status
    };
    let reason = if status == 200 {
        "OK"
    } else {
        "Internal Server Error"
    };
    let response =
        format!("HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The path, headers and body of an HTTP/1.1 request with a `content-length`.
async fn read_request(
    stream: &mut TcpStream,
) -> Option<(String, HashMap<String, String>, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break end;
        }
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8(buffer[..head_end].to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..read]);
    }
    body.truncate(length);
    Some((path, headers, body))
}
