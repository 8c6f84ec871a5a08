//! The protobuf codec of Tally's services: prost's, except that a request that cannot be decoded is
//! the caller's error (`INVALID_ARGUMENT`, reason `MALFORMED_MESSAGE`), not ours. tonic's own codec
//! answers `INTERNAL`, which tells the caller to blame the server and its operators to page someone.
//!
//! `build.rs` names this codec for every generated method. The in-crate clients (benchmarks) share it:
//! for them a response that cannot be decoded also reads `INVALID_ARGUMENT`.

use std::marker::PhantomData;

use prost::Message;
use tonic::{
    Status,
    codec::{BufferSettings, Codec, DecodeBuf, Decoder},
};
use tonic_prost::{ProstCodec, ProstEncoder};

use super::status::malformed;

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
fn decode<U: Message + Default>(buf: impl bytes::Buf) -> Result<U, Status> {
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

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn garbage_is_the_callers_error() {
        let status =
            decode::<crate::pb::RecordEventRequest>(&[0xff_u8, 0xff, 0xff][..]).unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "the message could not be decoded: invalid varint"
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
        let sent = crate::pb::GetRunRequest {
            run_id: "run-1".to_owned(),
        };
        let got = decode::<crate::pb::GetRunRequest>(&sent.encode_to_vec()[..]).unwrap();
        assert_eq!(got, sent);
    }
}
