//! Checks the gRPC framing of every request body (a flag byte, a 4-byte length, the message) as it
//! arrives, before tonic reads it. tonic answers a broken frame with `INTERNAL` (a body that ends
//! inside a message, a flag other than 0 or 1, a unary call without its message): the caller's fault
//! reported as ours. Here each is `INVALID_ARGUMENT` (reason `MALFORMED_MESSAGE`), and a message over
//! [`MAX_MESSAGE_BYTES`] is `RESOURCE_EXHAUSTED` (as gRPC's status code guide has it; tonic says
//! `OUT_OF_RANGE`) before any of it is buffered.
//!
//! The bytes before a broken frame pass through first, so a stream answers the messages sent before
//! it. A compressed flag without a `grpc-encoding` header is refused as malformed too, where gRPC's
//! compression guide asks for `INTERNAL`: the fault is the caller's all the same.

use std::{
    collections::HashSet,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::{Buf, Bytes};
use http::Request;
use http_body::Frame;
use prost::Message;
use tonic::{Status, body::Body};
use tower::{Layer, Service};

use super::{
    MAX_MESSAGE_BYTES,
    status::{malformed, too_large},
};

/// Bytes of a gRPC frame header: the compressed flag and the message length.
const HEADER_BYTES: usize = 5;

/// Builds [`CheckFraming`] around the routes.
#[derive(Clone, Debug)]
pub struct FramingLayer {
    /// Paths of Tally's methods whose request is a single message (`/tally.v1.Runs/GetRun`).
    unary: Arc<HashSet<String>>,
}

impl FramingLayer {
    /// Learns which of Tally's methods take one message from the contract's descriptors, so a new
    /// method is covered without a list to keep.
    pub fn new() -> anyhow::Result<Self> {
        let descriptors = prost_types::FileDescriptorSet::decode(crate::pb::FILE_DESCRIPTOR_SET)?;
        let unary = descriptors
            .file
            .iter()
            .flat_map(|file| {
                file.service.iter().flat_map(move |service| {
                    service
                        .method
                        .iter()
                        .filter(|method| !method.client_streaming())
                        .map(move |method| {
                            format!("/{}.{}/{}", file.package(), service.name(), method.name())
                        })
                })
            })
            .collect();
        Ok(Self {
            unary: Arc::new(unary),
        })
    }
}

impl<S> Layer<S> for FramingLayer {
    type Service = CheckFraming<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CheckFraming {
            inner,
            unary: self.unary.clone(),
        }
    }
}

/// Wraps each request body in a [`CheckedBody`].
#[derive(Clone, Debug)]
pub struct CheckFraming<S> {
    inner: S,
    unary: Arc<HashSet<String>>,
}

impl<S> Service<Request<Body>> for CheckFraming<S>
where
    S: Service<Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let frames = Frames {
            // Only Tally's own methods are known to be unary; others get the frame checks alone.
            unary: self.unary.contains(request.uri().path()),
            // tonic decompresses, or refuses an encoding it does not know, before reading.
            compressed: request.headers().contains_key("grpc-encoding"),
            ..Frames::default()
        };
        self.inner.call(request.map(|body| {
            Body::new(CheckedBody {
                body,
                frames,
                pending: None,
                done: false,
            })
        }))
    }
}

/// A request body that passes its bytes through while they frame well, then fails with why not.
struct CheckedBody {
    body: Body,
    frames: Frames,
    /// The error found after the bytes just passed on, for the next poll.
    pending: Option<Status>,
    done: bool,
}

impl http_body::Body for CheckedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(status) = self.pending.take() {
            self.done = true;
            return Poll::Ready(Some(Err(status)));
        }
        let this = &mut *self;
        match std::task::ready!(Pin::new(&mut this.body).poll_frame(cx)) {
            Some(Ok(frame)) => {
                let frame = match frame.into_data() {
                    Ok(mut data) => match this.frames.read(&data) {
                        Ok(()) => Frame::data(data),
                        Err((0, status)) => {
                            this.done = true;
                            return Poll::Ready(Some(Err(status)));
                        }
                        Err((valid, status)) => {
                            this.pending = Some(status);
                            Frame::data(data.copy_to_bytes(valid))
                        }
                    },
                    Err(frame) => frame,
                };
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(status)) => {
                this.done = true;
                Poll::Ready(Some(Err(status)))
            }
            None => {
                this.done = true;
                Poll::Ready(this.frames.finish().err().map(Err))
            }
        }
    }
}

/// Where a body stands in its frames.
#[derive(Debug, Default)]
struct Frames {
    unary: bool,
    compressed: bool,
    header: [u8; HEADER_BYTES],
    /// Bytes of the current header read so far.
    header_read: usize,
    /// Bytes of the current message still to come.
    message_left: usize,
    /// Messages whose header was read.
    messages: usize,
}

impl Frames {
    /// Follows `chunk`; on a broken frame, returns how many of its bytes come before that frame's
    /// header, and why it is broken.
    fn read(&mut self, chunk: &[u8]) -> Result<(), (usize, Status)> {
        let mut at = 0;
        while at < chunk.len() {
            if self.message_left > 0 {
                let taken = self.message_left.min(chunk.len() - at);
                self.message_left -= taken;
                at += taken;
                continue;
            }
            let header_start = at.saturating_sub(self.header_read);
            if self.header_read == 0 && self.unary && self.messages == 1 {
                return Err((
                    at,
                    malformed("a unary call carries one message, and a second one began"),
                ));
            }
            self.header[self.header_read] = chunk[at];
            self.header_read += 1;
            at += 1;
            if self.header_read == HEADER_BYTES {
                self.header_read = 0;
                self.messages += 1;
                self.message_left = self
                    .check_header()
                    .map_err(|status| (header_start, status))?;
            }
        }
        Ok(())
    }

    /// The length of the message a complete header announces, if the header is valid.
    fn check_header(&self) -> Result<usize, Status> {
        let [flag, length @ ..] = self.header;
        match flag {
            0 => {}
            1 if self.compressed => {}
            1 => {
                return Err(malformed(
                    "a message is marked compressed, but the call has no grpc-encoding header",
                ));
            }
            other => {
                return Err(malformed(format!(
                    "a message starts with the flag byte {other}, not 0 (plain) or 1 (compressed)"
                )));
            }
        }
        let length = u32::from_be_bytes(length) as usize;
        if length > MAX_MESSAGE_BYTES {
            return Err(too_large(format!(
                "a message of {length} bytes is over the limit of {MAX_MESSAGE_BYTES} bytes"
            )));
        }
        Ok(length)
    }

    /// Checks the end of the body: no message cut short, and a unary call's one message there.
    fn finish(&self) -> Result<(), Status> {
        if self.header_read > 0 {
            return Err(malformed(format!(
                "the request ended inside a message header ({} of {HEADER_BYTES} bytes)",
                self.header_read
            )));
        }
        if self.message_left > 0 {
            return Err(malformed(format!(
                "the request ended {} bytes short of the end of its last message",
                self.message_left
            )));
        }
        if self.unary && self.messages == 0 {
            return Err(malformed("the request carries no message"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    fn frame(flag: u8, message: &[u8]) -> Vec<u8> {
        let mut bytes = vec![flag];
        bytes.extend((message.len() as u32).to_be_bytes());
        bytes.extend(message);
        bytes
    }

    fn frames(unary: bool) -> Frames {
        Frames {
            unary,
            ..Frames::default()
        }
    }

    #[test]
    fn whole_messages_pass_in_any_chunks() {
        let body = [frame(0, b"abc"), frame(0, b""), frame(0, b"defgh")].concat();
        for split in 0..body.len() {
            let mut frames = frames(false);
            assert!(frames.read(&body[..split]).is_ok());
            assert!(frames.read(&body[split..]).is_ok());
            assert!(frames.finish().is_ok());
            assert_eq!(frames.messages, 3);
        }
    }

    #[test]
    fn a_body_cut_short_is_malformed() {
        let body = frame(0, b"abcdef");
        for cut in 1..body.len() {
            let mut frames = frames(true);
            assert!(frames.read(&body[..cut]).is_ok());
            let status = frames.finish().unwrap_err();
            assert_eq!(status.code(), Code::InvalidArgument, "{cut}: {status:?}");
        }
    }

    #[test]
    fn a_bad_frame_keeps_the_messages_before_it() {
        let good = frame(0, b"abc");
        let body = [good.clone(), frame(7, b"x")].concat();
        let (valid, status) = frames(false).read(&body).unwrap_err();
        assert_eq!(valid, good.len());
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("flag byte 7"));

        let (valid, status) = frames(false).read(&frame(1, b"x")).unwrap_err();
        assert_eq!((valid, status.code()), (0, Code::InvalidArgument));
        let compressed = Frames {
            compressed: true,
            ..Frames::default()
        };
        let mut compressed = compressed;
        assert!(compressed.read(&frame(1, b"x")).is_ok());
    }

    #[test]
    fn unary_calls_carry_exactly_one_message() {
        assert_eq!(
            frames(true).finish().unwrap_err().code(),
            Code::InvalidArgument
        );
        assert!(frames(false).finish().is_ok(), "a stream may be empty");
        let body = [frame(0, b"a"), frame(0, b"b")].concat();
        let (valid, status) = frames(true).read(&body).unwrap_err();
        assert_eq!((valid, status.code()), (6, Code::InvalidArgument));
        assert!(frames(false).read(&body).is_ok());
    }

    #[test]
    fn an_oversized_message_is_refused_from_its_header() {
        let mut header = vec![0];
        header.extend((MAX_MESSAGE_BYTES as u32 + 1).to_be_bytes());
        let (valid, status) = frames(false).read(&header).unwrap_err();
        assert_eq!((valid, status.code()), (0, Code::ResourceExhausted));
    }

    #[test]
    fn the_contracts_unary_methods_are_known() {
        let layer = FramingLayer::new().expect("descriptors");
        assert!(layer.unary.contains("/tally.v1.Runs/GetRun"));
        assert!(layer.unary.contains("/tally.v1.Reports/ExportEvents"));
        assert!(!layer.unary.contains("/tally.v1.Ingest/RecordEvents"));
    }
}
