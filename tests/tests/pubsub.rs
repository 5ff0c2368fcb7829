//! Pub/sub: subscribe replies in RESP2 and RESP3, delivery across clients, PUBSUB introspection,
//! and the RESP2 subscribed-mode restrictions. Byte-level, with the raw client.

use std::collections::HashSet;
use std::time::Duration;

use vigil_proto::{Client, Frame};
use vigil_tests::Node;

fn b(s: &str) -> Frame {
    Frame::bulk(s)
}

fn event(kind: &str, name: &str, count: i64) -> Vec<Frame> {
    vec![b(kind), b(name), Frame::Integer(count)]
}

async fn cmd(c: &mut Client, args: &[&str]) -> Frame {
    c.cmd(args).await.expect("reply")
}

async fn next(c: &mut Client) -> Frame {
    c.read_frame().await.expect("frame")
}

/// Waits until PUBSUB NUMSUB reports `n` subscribers on `ch` (subscribing is asynchronous
/// with respect to other connections).
async fn wait_numsub(c: &mut Client, ch: &str, n: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if cmd(c, &["PUBSUB", "NUMSUB", ch]).await == Frame::Array(vec![b(ch), Frame::Integer(n)]) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "NUMSUB {ch} never reached {n}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn resp2_subscribe_and_unsubscribe_replies() {
    let node = Node::start(&[]);
    let mut s = node.raw().await;
    // Unsubscribing with nothing subscribed: a null channel and count 0.
    assert_eq!(
        cmd(&mut s, &["UNSUBSCRIBE"]).await,
        Frame::Array(vec![b("unsubscribe"), Frame::NullBulk, Frame::Integer(0)])
    );
    assert_eq!(
        cmd(&mut s, &["PUNSUBSCRIBE"]).await,
        Frame::Array(vec![b("punsubscribe"), Frame::NullBulk, Frame::Integer(0)])
    );
    s.send(&["SUBSCRIBE", "a", "b", "a"]).await.expect("send");
    assert_eq!(next(&mut s).await, Frame::Array(event("subscribe", "a", 1)));
    assert_eq!(next(&mut s).await, Frame::Array(event("subscribe", "b", 2)));
    assert_eq!(next(&mut s).await, Frame::Array(event("subscribe", "a", 2)), "re-subscribing keeps the count");
    s.send(&["PSUBSCRIBE", "p*"]).await.expect("send");
    assert_eq!(next(&mut s).await, Frame::Array(event("psubscribe", "p*", 3)));
    s.send(&["UNSUBSCRIBE", "b", "zzz"]).await.expect("send");
    assert_eq!(next(&mut s).await, Frame::Array(event("unsubscribe", "b", 2)));
    assert_eq!(next(&mut s).await, Frame::Array(event("unsubscribe", "zzz", 2)));
    s.send(&["PUNSUBSCRIBE"]).await.expect("send");
    assert_eq!(next(&mut s).await, Frame::Array(event("punsubscribe", "p*", 1)));
    s.send(&["SUBSCRIBE", "c"]).await.expect("send");
    assert_eq!(next(&mut s).await, Frame::Array(event("subscribe", "c", 2)));
    // UNSUBSCRIBE without arguments drops every channel, in any order, counting down.
    s.send(&["UNSUBSCRIBE"]).await.expect("send");
    let mut names = HashSet::new();
    for left in [1, 0] {
        match next(&mut s).await {
            Frame::Array(v) if v.len() == 3 && v[0] == b("unsubscribe") && v[2] == Frame::Integer(left) => {
                names.insert(v[1].as_bytes().expect("name").clone());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(names, HashSet::from([bytes::Bytes::from("a"), bytes::Bytes::from("c")]));
    // Out of subscribed mode: normal commands work again.
    assert_eq!(cmd(&mut s, &["GET", "x"]).await, Frame::NullBulk);
}

#[tokio::test]
async fn resp2_subscribed_mode_restrictions() {
    let node = Node::start(&[]);
    let mut s = node.raw().await;
    assert_eq!(cmd(&mut s, &["SUBSCRIBE", "a"]).await, Frame::Array(event("subscribe", "a", 1)));
    assert_eq!(
        cmd(&mut s, &["GET", "x"]).await,
        Frame::error(
            "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        )
    );
    assert_eq!(
        cmd(&mut s, &["set", "x", "1"]).await,
        Frame::error(
            "ERR Can't execute 'set': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        )
    );
    s.send_raw(b"PING\r\n").await.expect("send");
    assert_eq!(s.read_frame().await.expect("pong"), Frame::Array(vec![b("pong"), b("")]));
    assert_eq!(s.buffered().len(), 0);
    assert_eq!(cmd(&mut s, &["PING", "hi"]).await, Frame::Array(vec![b("pong"), b("hi")]));
    // RESET leaves subscribed mode.
    assert_eq!(cmd(&mut s, &["RESET"]).await, Frame::simple("RESET"));
    assert_eq!(cmd(&mut s, &["PING"]).await, Frame::simple("PONG"));
    assert_eq!(cmd(&mut s, &["GET", "x"]).await, Frame::NullBulk);
    let mut p = node.raw().await;
    assert_eq!(cmd(&mut p, &["PUBLISH", "a", "m"]).await, Frame::Integer(0));
}

#[tokio::test]
async fn resp3_push_frames_and_normal_commands() {
    let node = Node::start(&[]);
    let mut s = node.raw().await;
    s.hello3().await.expect("HELLO 3");
    s.send(&["UNSUBSCRIBE"]).await.expect("send");
    assert_eq!(next(&mut s).await, Frame::Push(vec![b("unsubscribe"), Frame::Null, Frame::Integer(0)]));
    s.send(&["SUBSCRIBE", "a"]).await.expect("send");
    assert_eq!(next(&mut s).await, Frame::Push(event("subscribe", "a", 1)));
    s.send(&["PSUBSCRIBE", "p*"]).await.expect("send");
    assert_eq!(next(&mut s).await, Frame::Push(event("psubscribe", "p*", 2)));
    // In RESP3 every command works on a subscribed connection; PING answers normally.
    assert_eq!(cmd(&mut s, &["PING"]).await, Frame::simple("PONG"));
    assert_eq!(cmd(&mut s, &["SET", "x", "1"]).await, Frame::simple("OK"));
    assert_eq!(cmd(&mut s, &["GET", "x"]).await, b("1"));
    assert_eq!(cmd(&mut s, &["GET", "nope"]).await, Frame::Null);

    let mut p = node.raw().await;
    assert_eq!(cmd(&mut p, &["PUBLISH", "a", "hello"]).await, Frame::Integer(1));
    assert_eq!(cmd(&mut p, &["PUBLISH", "pq", "world"]).await, Frame::Integer(1));
    assert_eq!(next(&mut s).await, Frame::Push(vec![b("message"), b("a"), b("hello")]));
    assert_eq!(next(&mut s).await, Frame::Push(vec![b("pmessage"), b("p*"), b("pq"), b("world")]));
    // A message that arrives while a reply is awaited is queued, not mistaken for the reply.
    assert_eq!(cmd(&mut p, &["PUBLISH", "a", "queued"]).await, Frame::Integer(1));
    assert_eq!(s.cmd(&["ECHO", "e"]).await.expect("echo"), b("e"));
    assert_eq!(s.next_push().await.expect("push"), Frame::Push(vec![b("message"), b("a"), b("queued")]));

    s.send(&["PUNSUBSCRIBE", "p*"]).await.expect("send");
    assert_eq!(next(&mut s).await, Frame::Push(event("punsubscribe", "p*", 1)));
    s.send(&["UNSUBSCRIBE", "a"]).await.expect("send");
    assert_eq!(next(&mut s).await, Frame::Push(event("unsubscribe", "a", 0)));
}

#[tokio::test]
async fn publish_counts_receivers_and_delivers() {
    let node = Node::start(&[]);
    let mut s1 = node.raw().await;
    let mut s2 = node.raw().await;
    let mut p = node.raw().await;
    assert_eq!(cmd(&mut p, &["PUBLISH", "news", "nobody"]).await, Frame::Integer(0));
    assert_eq!(cmd(&mut s1, &["SUBSCRIBE", "news"]).await, Frame::Array(event("subscribe", "news", 1)));
    s2.send(&["PSUBSCRIBE", "n*", "x*"]).await.expect("send");
    assert_eq!(next(&mut s2).await, Frame::Array(event("psubscribe", "n*", 1)));
    assert_eq!(next(&mut s2).await, Frame::Array(event("psubscribe", "x*", 2)));
    s2.send(&["SUBSCRIBE", "news"]).await.expect("send");
    assert_eq!(next(&mut s2).await, Frame::Array(event("subscribe", "news", 3)));

    // s2 matches both by channel and by pattern: it counts (and receives) twice.
    assert_eq!(cmd(&mut p, &["PUBLISH", "news", "m1"]).await, Frame::Integer(3));
    assert_eq!(next(&mut s1).await, Frame::Array(vec![b("message"), b("news"), b("m1")]));
    let mut got = vec![next(&mut s2).await, next(&mut s2).await];
    got.sort_by_key(|f| format!("{f:?}"));
    assert_eq!(
        got,
        vec![
            Frame::Array(vec![b("message"), b("news"), b("m1")]),
            Frame::Array(vec![b("pmessage"), b("n*"), b("news"), b("m1")]),
        ]
    );
    // Binary payloads arrive intact.
    let payload = b"\x00\r\n\xff".to_vec();
    let r = p.cmd(&[b"PUBLISH".to_vec(), b"news".to_vec(), payload.clone()]).await.expect("publish");
    assert_eq!(r, Frame::Integer(3));
    assert_eq!(next(&mut s1).await, Frame::Array(vec![b("message"), b("news"), Frame::bulk(&payload)]));
    // Messages from one publisher arrive in order.
    for i in 0..100 {
        p.send(&["PUBLISH", "news", &i.to_string()]).await.expect("send");
    }
    for _ in 0..100 {
        assert_eq!(p.reply().await.expect("count"), Frame::Integer(3));
    }
    for i in 0..100 {
        assert_eq!(next(&mut s1).await, Frame::Array(vec![b("message"), b("news"), b(&i.to_string())]));
    }
    // A disconnected subscriber no longer counts.
    drop(s1);
    wait_numsub(&mut p, "news", 1).await;
    assert_eq!(cmd(&mut p, &["PUBLISH", "news", "m2"]).await, Frame::Integer(2));
}

#[tokio::test]
async fn pubsub_introspection() {
    let node = Node::start(&[]);
    let mut s1 = node.raw().await;
    let mut s2 = node.raw().await;
    let mut q = node.raw().await;
    assert_eq!(cmd(&mut q, &["PUBSUB", "CHANNELS"]).await, Frame::Array(vec![]));
    assert_eq!(cmd(&mut q, &["PUBSUB", "NUMPAT"]).await, Frame::Integer(0));
    assert_eq!(cmd(&mut q, &["PUBSUB", "NUMSUB"]).await, Frame::Array(vec![]));
    s1.send(&["SUBSCRIBE", "alpha", "beta"]).await.expect("send");
    next(&mut s1).await;
    next(&mut s1).await;
    s2.send(&["SUBSCRIBE", "alpha"]).await.expect("send");
    next(&mut s2).await;
    s2.send(&["PSUBSCRIBE", "a*", "b*"]).await.expect("send");
    next(&mut s2).await;
    next(&mut s2).await;
    s1.send(&["PSUBSCRIBE", "a*"]).await.expect("send");
    next(&mut s1).await;

    let channels = |f: Frame| match f {
        Frame::Array(v) => {
            let mut v: Vec<String> =
                v.iter().map(|x| String::from_utf8_lossy(x.as_bytes().expect("bulk")).into()).collect();
            v.sort();
            v
        }
        other => panic!("not an array: {other:?}"),
    };
    assert_eq!(channels(cmd(&mut q, &["PUBSUB", "CHANNELS"]).await), ["alpha", "beta"]);
    assert_eq!(channels(cmd(&mut q, &["PUBSUB", "CHANNELS", "b*"]).await), ["beta"]);
    assert_eq!(channels(cmd(&mut q, &["PUBSUB", "CHANNELS", "x*"]).await), Vec::<String>::new());
    assert_eq!(
        cmd(&mut q, &["PUBSUB", "NUMSUB", "alpha", "beta", "gamma"]).await,
        Frame::Array(vec![b("alpha"), Frame::Integer(2), b("beta"), Frame::Integer(1), b("gamma"), Frame::Integer(0)])
    );
    // NUMPAT counts distinct patterns.
    assert_eq!(cmd(&mut q, &["PUBSUB", "NUMPAT"]).await, Frame::Integer(2));
    assert_eq!(cmd(&mut q, &["PUBSUB", "FOO"]).await, Frame::error("ERR unknown subcommand 'FOO'. Try PUBSUB HELP."));
    assert_eq!(cmd(&mut q, &["PUBSUB"]).await, Frame::error("ERR wrong number of arguments for 'pubsub' command"));
    assert_eq!(
        cmd(&mut q, &["PUBLISH", "a"]).await,
        Frame::error("ERR wrong number of arguments for 'publish' command")
    );
    assert_eq!(
        cmd(&mut q, &["SUBSCRIBE"]).await,
        Frame::error("ERR wrong number of arguments for 'subscribe' command")
    );
    // In RESP3 NUMSUB is still a flat array.
    q.hello3().await.expect("HELLO 3");
    assert_eq!(cmd(&mut q, &["PUBSUB", "NUMSUB", "beta"]).await, Frame::Array(vec![b("beta"), Frame::Integer(1)]));
}
