//! Property tests: every frame type survives encode → decode, split at any point, and arbitrary
//! bytes never panic the decoders.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use vigil_proto::{Decoder, Frame, Limits, RequestParser};

fn text() -> impl Strategy<Value = Bytes> {
    "[a-zA-Z0-9 _:.-]{0,12}".prop_map(Bytes::from)
}

fn blob() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from)
}

fn frame() -> impl Strategy<Value = Frame> {
    let leaf = prop_oneof![
        text().prop_map(Frame::Simple),
        text().prop_map(Frame::Error),
        any::<i64>().prop_map(Frame::Integer),
        blob().prop_map(Frame::Bulk),
        Just(Frame::NullBulk),
        Just(Frame::NullArray),
        Just(Frame::Null),
        any::<f64>().prop_filter("nan never equals itself", |d| !d.is_nan()).prop_map(Frame::Double),
        any::<bool>().prop_map(Frame::Boolean),
        "-?[1-9][0-9]{0,40}".prop_map(|s| Frame::BigNumber(Bytes::from(s))),
        blob().prop_map(Frame::BlobError),
        blob().prop_map(|text| Frame::Verbatim { format: *b"txt", text }),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Frame::Array),
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Frame::Set),
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Frame::Push),
            proptest::collection::vec((inner.clone(), inner.clone()), 0..4).prop_map(Frame::Map),
            (proptest::collection::vec((inner.clone(), inner.clone()), 0..3), inner)
                .prop_map(|(attrs, f)| Frame::Attribute { attrs, frame: Box::new(f) }),
        ]
    })
}

proptest! {
    #[test]
    fn encode_then_decode_round_trips(f in frame(), split in any::<prop::sample::Index>()) {
        let bytes = f.to_bytes();
        let cut = split.index(bytes.len() + 1);
        let mut d = Decoder::default();
        let mut buf = BytesMut::from(&bytes[..cut]);
        let first = d.decode(&mut buf).expect("valid");
        if cut < bytes.len() {
            prop_assert!(first.is_none());
            buf.extend_from_slice(&bytes[cut..]);
            let got = d.decode(&mut buf).expect("valid").expect("whole");
            prop_assert_eq!(got, f);
        } else {
            prop_assert_eq!(first.expect("whole"), f);
        }
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn requests_round_trip(args in proptest::collection::vec(blob(), 1..8)) {
        let mut buf = BytesMut::new();
        vigil_proto::frame::encode_request(&mut buf, &args);
        let mut p = RequestParser::new();
        let mut out = Vec::new();
        prop_assert!(p.parse(&mut buf, Limits::default(), &mut out).expect("valid"));
        prop_assert_eq!(out, args);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut buf = BytesMut::from(&data[..]);
        let mut d = Decoder::new(1 << 20);
        while let Ok(Some(_)) = d.decode(&mut buf) {}
        let mut buf = BytesMut::from(&data[..]);
        let mut p = RequestParser::new();
        let mut out = Vec::new();
        while let Ok(true) = p.parse(&mut buf, Limits::default(), &mut out) {}
    }

    #[test]
    fn arbitrary_resp_shaped_bytes_never_panic(parts in proptest::collection::vec(
        prop_oneof![Just("*"), Just("$"), Just("%"), Just("|"), Just(">"), Just("\r\n"), Just("-1"),
                    Just("2"), Just("0"), Just("x"), Just(":"), Just("="), Just(","), Just("#")], 0..40)) {
        let data: String = parts.concat();
        let mut buf = BytesMut::from(data.as_bytes());
        let mut d = Decoder::new(1 << 20);
        while let Ok(Some(_)) = d.decode(&mut buf) {}
        let mut buf = BytesMut::from(data.as_bytes());
        let mut p = RequestParser::new();
        let mut out = Vec::new();
        while let Ok(true) = p.parse(&mut buf, Limits::default(), &mut out) {}
    }
}
