//! Calls with request bodies made by hand, byte for byte (what a broken or hostile client sends), over
//! the test app's channel, and the answer read back as raw messages and a status.

use std::{
    collections::VecDeque,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body as _, Frame};
use prost::Message;
use tonic::{Code, Status, body::Body};
use tower::ServiceExt;

use crate::helpers::TestApp;

/// A gRPC frame: the plain flag, the length, the message.
pub fn frame(message: &[u8]) -> Bytes {
    frame_with(0, message.len() as u32, message)
}

/// A gRPC frame with the given flag and announced length, whatever the message really is.
pub fn frame_with(flag: u8, length: u32, message: &[u8]) -> Bytes {
    let mut bytes = BytesMut::with_capacity(5 + message.len());
    bytes.extend_from_slice(&[flag]);
    bytes.extend_from_slice(&length.to_be_bytes());
    bytes.extend_from_slice(message);
    bytes.freeze()
}

/// The frame of an encoded message.
pub fn framed(message: &impl Message) -> Bytes {
    frame(&message.encode_to_vec())
}

/// What a call answered: the response messages (unparsed) and the final status.
#[derive(Debug)]
pub struct RawAnswer {
    pub messages: Vec<Bytes>,
    pub status: Status,
}

/// Why a call got no gRPC answer at all.
#[derive(Debug)]
pub enum NoAnswer {
    /// The connection or stream failed without a gRPC status.
    Transport(String),
    /// Nothing within the time allowed.
    TimedOut,
}

/// Calls `path` (`/tally.v1.Runs/GetRun`) with `key`, sending `chunks` as the request body, one
/// HTTP/2 DATA frame each.
pub async fn call(
    app: &TestApp,
    path: &str,
    key: &str,
    chunks: Vec<Bytes>,
    timeout: Duration,
) -> Result<RawAnswer, NoAnswer> {
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("http://{}{path}", app.address))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", format!("Bearer {key}"))
        .body(Body::new(Chunks(chunks.into())))
        .expect("request");
    let exchange = async {
        let response = app
            .channel
            .clone()
            .oneshot(request)
            .await
            .map_err(|error| NoAnswer::Transport(error.to_string()))?;
        let (parts, mut body) = response.into_parts();
        if let Some(status) = Status::from_header_map(&parts.headers) {
            return Ok(RawAnswer {
                messages: Vec::new(),
                status,
            });
        }
        let mut data = BytesMut::new();
        let mut status = None;
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            let frame = frame.map_err(|error| NoAnswer::Transport(error.to_string()))?;
            match frame.into_data() {
                Ok(bytes) => data.extend_from_slice(&bytes),
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        status = Status::from_header_map(&trailers);
                    }
                }
            }
        }
        let status = status.ok_or_else(|| {
            NoAnswer::Transport("the response ended without a grpc-status".to_owned())
        })?;
        Ok(RawAnswer {
            messages: messages(data.freeze()),
            status,
        })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or(Err(NoAnswer::TimedOut))
}

/// The messages of a response body.
fn messages(mut data: Bytes) -> Vec<Bytes> {
    let mut messages = Vec::new();
    while data.remaining() >= 5 {
        let _flag = data.get_u8();
        let length = data.get_u32() as usize;
        let length = length.min(data.remaining());
        messages.push(data.split_to(length));
    }
    messages
}

impl RawAnswer {
    /// The answer's code, `Ok` included.
    pub fn code(&self) -> Code {
        self.status.code()
    }
}

/// A request body of fixed chunks.
struct Chunks(VecDeque<Bytes>);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }
}
