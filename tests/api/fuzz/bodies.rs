//! The bodies the fuzz test sends: random messages of a method's own input type (built from its
//! descriptor, fields set more often than not so that some calls get past validation) and
//! mutations of them (bit flips, truncation, lying length prefixes, deep nesting, bad flags, extra
//! messages, unframed bytes).

use std::collections::HashMap;

use bytes::Bytes;
use prost::Message;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, MethodDescriptor, Value,
};
use rand::{Rng, rngs::StdRng, seq::IndexedRandom};

use crate::raw_grpc::{frame, frame_with};

/// Texts that reach parsers and the database: money spellings, names, ids, control and wide
/// characters, injection-shaped and long strings.
const TEXTS: &[&str] = &[
    "",
    " ",
    "openai",
    "OpenAI ",
    "gpt-4o",
    "anthropic",
    "claude-haiku-4-5",
    "workspace_42",
    "support_reply",
    "pro",
    "messages",
    "0",
    "0.5",
    " 0.5 ",
    "00.5",
    "-0",
    "-1",
    "1e-7",
    "99.0000000001",
    "922337204",
    "NaN",
    "a\u{0}b",
    "\u{0}",
    "\n",
    "é",
    "🙂",
    "'; DROP TABLE cost_events; --",
    "%s%n",
    "name",
    "plan",
    "monthly_limit_usd",
    "display_name",
    "00000000-0000-0000-0000-000000000000",
    "01890a5d-ac96-774b-bcce-b302099a8057",
];

fn text(rng: &mut StdRng) -> String {
    match rng.random_range(0..10) {
        0 => (0..rng.random_range(0..24))
            .map(|_| rng.random_range(0x20_u8..0x7f) as char)
            .collect(),
        1 => "x".repeat(*[257, 1_000, 10_000].choose(rng).expect("a length")),
        2 => uuid::Uuid::now_v7().to_string(),
        _ => (*TEXTS.choose(rng).expect("a text")).to_owned(),
    }
}

fn scalar(rng: &mut StdRng, kind: &Kind, depth: usize) -> Value {
    match kind {
        Kind::Double => Value::F64(
            *[0.0, -1.5, 1e308, f64::NAN, f64::INFINITY]
                .choose(rng)
                .expect("f64"),
        ),
        Kind::Float => Value::F32(*[0.0, 2.5, f32::NAN].choose(rng).expect("f32")),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(
            *[0, 1, -1, 7, 100, 101, i32::MIN, i32::MAX, rng.random()]
                .choose(rng)
                .expect("i32"),
        ),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(
            *[
                0,
                1,
                -1,
                3_600,
                i64::MIN,
                i64::MAX,
                -62_135_596_801,
                253_402_300_800,
                rng.random(),
            ]
            .choose(rng)
            .expect("i64"),
        ),
        Kind::Uint32 | Kind::Fixed32 => {
            Value::U32(*[0, 1, 100, u32::MAX].choose(rng).expect("u32"))
        }
        Kind::Uint64 | Kind::Fixed64 => Value::U64(
            *[
                0,
                1,
                1_000,
                1_000_000_000_000,
                1_000_000_000_001,
                u64::MAX,
                rng.random(),
            ]
            .choose(rng)
            .expect("u64"),
        ),
        Kind::Bool => Value::Bool(rng.random()),
        Kind::String => Value::String(text(rng)),
        Kind::Bytes => Value::Bytes(random_bytes(rng, 16)),
        Kind::Enum(values) => {
            let defined: Vec<i32> = values.values().map(|value| value.number()).collect();
            Value::EnumNumber(match rng.random_range(0..4) {
                0 => *[-1, 99, i32::MAX].choose(rng).expect("an unknown value"),
                _ => *defined.choose(rng).expect("a defined value"),
            })
        }
        Kind::Message(inner) => Value::Message(if depth > 5 {
            DynamicMessage::new(inner.clone())
        } else {
            message(rng, inner, depth + 1)
        }),
    }
}

fn map_key(rng: &mut StdRng, kind: &Kind) -> MapKey {
    match scalar(rng, kind, 0) {
        Value::Bool(value) => MapKey::Bool(value),
        Value::I32(value) => MapKey::I32(value),
        Value::I64(value) => MapKey::I64(value),
        Value::U32(value) => MapKey::U32(value),
        Value::U64(value) => MapKey::U64(value),
        Value::String(value) => MapKey::String(value),
        other => panic!("not a map key: {other:?}"),
    }
}

fn field_value(rng: &mut StdRng, field: &FieldDescriptor, depth: usize) -> Value {
    let kind = field.kind();
    if field.is_map() {
        let Kind::Message(entry) = &kind else {
            unreachable!("a map field is a message of entries")
        };
        let (key, value) = (entry.map_entry_key_field(), entry.map_entry_value_field());
        Value::Map(
            (0..rng.random_range(0..4))
                .map(|_| (map_key(rng, &key.kind()), scalar(rng, &value.kind(), depth)))
                .collect::<HashMap<_, _>>(),
        )
    } else if field.is_list() {
        // Now and then a list of scalars longer than a database binds in one statement.
        let long = !matches!(kind, Kind::Message(_)) && rng.random_ratio(1, 30);
        let length = if long { 40_000 } else { rng.random_range(0..4) };
        Value::List((0..length).map(|_| scalar(rng, &kind, depth)).collect())
    } else {
        scalar(rng, &kind, depth)
    }
}

/// A time most calls accept (a whole hour of the 30 days before 2026), or now and then any. Fixed,
/// not taken from the clock, so that a seed gives the same bodies on every run.
fn timestamp(rng: &mut StdRng, descriptor: &MessageDescriptor, depth: usize) -> DynamicMessage {
    if rng.random_bool(0.2) {
        return message(rng, descriptor, depth);
    }
    const START_OF_2026: i64 = 1_767_225_600;
    let hour = START_OF_2026 - rng.random_range(0..720) * 3_600;
    let mut time = DynamicMessage::new(descriptor.clone());
    time.set_field_by_name("seconds", Value::I64(hour));
    time
}

/// A random message of type `descriptor`: valid protobuf, random content, each field set more
/// often than not so that some calls get past validation.
fn message(rng: &mut StdRng, descriptor: &MessageDescriptor, depth: usize) -> DynamicMessage {
    if descriptor.full_name() == "google.protobuf.Timestamp" && depth > 0 {
        return timestamp(rng, descriptor, depth);
    }
    let mut message = DynamicMessage::new(descriptor.clone());
    for field in descriptor.fields() {
        if rng.random_bool(0.6) {
            let value = field_value(rng, &field, depth);
            message.set_field(&field, value);
        }
    }
    message
}

fn random_bytes(rng: &mut StdRng, most: usize) -> Bytes {
    (0..rng.random_range(0..=most))
        .map(|_| rng.random::<u8>())
        .collect::<Vec<u8>>()
        .into()
}

/// Field 1, length-delimited, inside itself `levels` times: deeper than any decoder reads.
fn nested_field_one(levels: usize) -> Vec<u8> {
    (0..levels).fold(Vec::new(), |inner, _| {
        let mut outer = vec![0x0a];
        prost::encoding::encode_varint(inner.len() as u64, &mut outer);
        outer.extend(inner);
        outer
    })
}

/// One body to send: what kind it is (for the report) and its chunks.
pub fn body(
    rng: &mut StdRng,
    method: &MethodDescriptor,
    case: usize,
) -> (&'static str, Vec<Bytes>) {
    let valid = message(rng, &method.input(), 0).encode_to_vec();
    let length = valid.len() as u32;
    match case % 11 {
        0 => ("random bytes", vec![frame(&random_bytes(rng, 64))]),
        1 | 2 => ("random message", vec![frame(&valid)]),
        3 => {
            let mut flipped = valid.clone();
            for _ in 0..rng.random_range(1..=8) {
                if !flipped.is_empty() {
                    let at = rng.random_range(0..flipped.len());
                    flipped[at] ^= 1 << rng.random_range(0..8);
                }
            }
            ("bit flips", vec![frame(&flipped)])
        }
        4 => {
            let cut = rng.random_range(0..=valid.len());
            ("truncated message", vec![frame(&valid[..cut])])
        }
        5 => {
            let lie = match rng.random_range(0..3) {
                0 => length.saturating_add(rng.random_range(1..100)),
                1 => length.saturating_sub(rng.random_range(1..=length.max(1))),
                _ => u32::MAX,
            };
            ("length-prefix lie", vec![frame_with(0, lie, &valid)])
        }
        6 => ("unframed bytes", vec![random_bytes(rng, 32)]),
        7 => (
            "deep nesting",
            vec![frame(&nested_field_one(rng.random_range(40..200)))],
        ),
        8 => {
            let flag = *[1, 2, 0x80, 0xff].choose(rng).expect("a flag");
            ("bad flag", vec![frame_with(flag, length, &valid)])
        }
        9 => {
            // A stream of several messages, some broken; for a unary method, one message too many.
            let chunks = (0..rng.random_range(2..6))
                .map(|_| {
                    let next = message(rng, &method.input(), 0).encode_to_vec();
                    if rng.random_bool(0.3) {
                        frame(&next[..rng.random_range(0..=next.len())])
                    } else {
                        frame(&next)
                    }
                })
                .collect();
            ("several messages", chunks)
        }
        _ => {
            let mut split = frame(&valid).to_vec();
            split.extend(random_bytes(rng, 8));
            let at = rng.random_range(0..=split.len());
            let tail = split.split_off(at);
            (
                "message with trailing bytes, split",
                vec![split.into(), tail.into()],
            )
        }
    }
}
