//! The protobuf codec of Tally's services: prost's, except that a request that cannot be decoded is
//! the caller's error (`INVALID_ARGUMENT`, reason `MALFORMED_MESSAGE`), not ours. tonic's own codec
//! answers `INTERNAL`, which tells the caller to blame the server and its operators to page someone.
//!
//! `build.rs` names this codec for every method of the generated servers; the clients keep tonic's.

use std::{collections::HashMap, marker::PhantomData};

use prost::Message;
use tonic::{
    Code, Status,
    codec::{BufferSettings, Codec, DecodeBuf, Decoder},
};
use tonic_prost::{ProstCodec, ProstEncoder};
use tonic_types::{ErrorDetails, StatusExt as _};

/// The `ErrorInfo.domain` of every error Tally returns (the server's `grpc::status::ERROR_DOMAIN`).
const ERROR_DOMAIN: &str = "tally";
/// Characters of a status message about an unreadable request (prost's error names every field on
/// the way to the broken one).
const MAX_MESSAGE_CHARS: usize = 512;

/// prost encoding, and decoding whose errors are the caller's.
#[derive(Debug, Clone)]
pub struct TallyCodec<T, U> {
    _types: PhantomData<(T, U)>,
}

impl<T, U> Default for TallyCodec<T, U> {
    fn default() -> Self {
        Self {
            _types: PhantomData,
        }
    }
}

impl<T, U> Codec for TallyCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = TallyDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::default().encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        TallyDecoder { _type: PhantomData }
    }
}

/// Decodes a `U`; a message that is not one is `INVALID_ARGUMENT`, saying where it broke.
#[derive(Debug)]
pub struct TallyDecoder<U> {
    _type: PhantomData<U>,
}

impl<U: Message + Default> Decoder for TallyDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        decode(buf).map(Some)
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

/// Decodes one message; the error says why first, then the fields on the way to where it broke
/// (prost writes them the other way round, and a deep path would hide the reason once the message
/// is cut to its length limit).
fn decode<U: Message + Default>(buf: impl prost::bytes::Buf) -> Result<U, Status> {
    U::decode(buf).map_err(|error| {
        let text = error.to_string();
        let text = text
            .strip_prefix("failed to decode Protobuf message: ")
            .unwrap_or(&text);
        malformed(match text.rsplit_once(": ") {
            Some((path, reason)) => {
                format!("the message could not be decoded: {reason}, in {path}")
            }
            None => format!("the message could not be decoded: {text}"),
        })
    })
}

/// `INVALID_ARGUMENT` with reason `MALFORMED_MESSAGE`, as the server's `grpc::status::malformed`
/// answers an unreadable request.
fn malformed(message: String) -> Status {
    let mut details = ErrorDetails::new();
    details.set_error_info("MALFORMED_MESSAGE", ERROR_DOMAIN, HashMap::new());
    Status::with_error_details(
        Code::InvalidArgument,
        shorten(message, MAX_MESSAGE_CHARS),
        details,
    )
}

/// Cuts a message to `max` characters, saying how long it was.
fn shorten(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text,
        Some((end, _)) => format!("{}…({} bytes)", &text[..end], text.len()),
    }
}

#[cfg(test)]
mod tests {
    use tonic_types::StatusExt;

    use super::*;

    #[test]
    fn garbage_is_the_callers_error() {
        let status = decode::<crate::RecordEventRequest>(&[0xff_u8, 0xff, 0xff][..]).unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "the message could not be decoded: invalid varint"
        );
        let details = status.get_error_details();
        let info = details.error_info().expect("an ErrorInfo");
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("MALFORMED_MESSAGE", "tally")
        );
    }

    #[test]
    fn the_reason_comes_before_the_path() {
        let mut deep = prost_types::Struct::default();
        for _ in 0..64 {
            let inner = prost_types::Value {
                kind: Some(prost_types::value::Kind::StructValue(deep)),
            };
            deep = prost_types::Struct {
                fields: [("a".to_owned(), inner)].into(),
            };
        }
        let status = decode::<prost_types::Struct>(&deep.encode_to_vec()[..]).unwrap_err();
        assert!(
            status
                .message()
                .starts_with("the message could not be decoded: recursion limit reached, in "),
            "{}",
            status.message()
        );
    }

    #[test]
    fn a_valid_message_decodes() {
        let sent = crate::GetRunRequest {
            run_id: "run-1".to_owned(),
        };
        let got = decode::<crate::GetRunRequest>(&sent.encode_to_vec()[..]).unwrap();
        assert_eq!(got, sent);
    }
}
