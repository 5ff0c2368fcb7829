//! The request parser under hostile input: exact error bytes, connection closed after a protocol
//! error, other clients unaffected; inline commands; big pipelines; many idle connections.

use std::time::Duration;

use vigil_proto::{Client, Frame};
use vigil_tests::{Node, assert_closed};

/// Sends `bytes` on a fresh connection and expects exactly `reply` (as raw bytes), then a close.
async fn expect_protocol_error(node: &Node, bytes: &[u8], reply: &[u8]) {
    let mut c = node.raw().await;
    c.send_raw(bytes).await.expect("send");
    let f = c.read_frame().await.expect("error reply");
    assert_eq!(f.to_bytes(), reply, "reply to {:?}", String::from_utf8_lossy(bytes));
    assert!(c.buffered().is_empty(), "nothing after the error: {:?}", c.buffered());
    assert_closed(&mut c).await;
}

async fn assert_alive(probe: &mut Client) {
    assert_eq!(probe.cmd(&["PING"]).await.expect("PING"), Frame::simple("PONG"));
}

#[tokio::test]
async fn malformed_multibulk_gets_exact_error_and_close() {
    let node = Node::start(&[]);
    let mut probe = node.raw().await;
    let cases: [(&[u8], &[u8]); 6] = [
        (b"*x\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*1\r\n$-5\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n$x\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n$536870913\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n+foo\r\n", b"-ERR Protocol error: expected '$', got '+'\r\n"),
        (b"*2\r\n$3\r\nGET\r\n:1\r\n", b"-ERR Protocol error: expected '$', got ':'\r\n"),
    ];
    for (bytes, reply) in cases {
        expect_protocol_error(&node, bytes, reply).await;
        assert_alive(&mut probe).await;
    }
    // A bulk of exactly 512 MB is still a valid length (the server waits for the payload).
    let mut c = node.raw().await;
    c.send_raw(b"*1\r\n$536870912\r\n").await.expect("send");
    c.set_timeout(Some(Duration::from_millis(300)));
    assert!(matches!(c.read_frame().await, Err(vigil_proto::ClientError::Timeout)));
    assert_alive(&mut probe).await;
}

#[tokio::test]
async fn inline_protocol() {
    let node = Node::start(&[]);
    let mut c = node.raw().await;
    c.send_raw(b"SET a \"b c\"\r\nGET a\r\n").await.expect("send");
    assert_eq!(c.read_frame().await.expect("OK"), Frame::simple("OK"));
    assert_eq!(c.read_frame().await.expect("GET"), Frame::bulk("b c"));
    // Bare LF, empty lines, escapes and single quotes.
    c.send_raw(b"\r\n\nSET x \"a\\x41\\n\"\nGET x\nECHO 'a b' c\r\nPING\n").await.expect("send");
    assert_eq!(c.read_frame().await.expect("OK"), Frame::simple("OK"));
    assert_eq!(c.read_frame().await.expect("GET"), Frame::bulk("aA\n"));
    assert_eq!(c.read_frame().await.expect("ECHO"), Frame::error("ERR wrong number of arguments for 'echo' command"));
    assert_eq!(c.read_frame().await.expect("PING"), Frame::simple("PONG"));
    // `*0` and `*-1` are skipped silently.
    c.send_raw(b"*-1\r\n*0\r\nPING\r\n").await.expect("send");
    assert_eq!(c.read_frame().await.expect("PING"), Frame::simple("PONG"));
    assert!(c.buffered().is_empty());

    let mut probe = node.raw().await;
    expect_protocol_error(&node, b"SET a \"b\r\n", b"-ERR Protocol error: unbalanced quotes in request\r\n").await;
    expect_protocol_error(&node, b"SET a 'b\r\n", b"-ERR Protocol error: unbalanced quotes in request\r\n").await;
    expect_protocol_error(&node, &vec![b'a'; 70_000], b"-ERR Protocol error: too big inline request\r\n").await;
    assert_alive(&mut probe).await;
    assert_eq!(probe.cmd(&["GET", "a"]).await.expect("GET"), Frame::bulk("b c"));
}

#[tokio::test]
async fn unknown_command_and_arity_errors_keep_the_connection() {
    let node = Node::start(&[]);
    let mut c = node.raw().await;
    c.send_raw(b"FOO a b\r\nGET\r\n*1\r\n$3\r\nfoo\r\n").await.expect("send");
    let mut got = Vec::new();
    for _ in 0..3 {
        got.extend_from_slice(&c.read_frame().await.expect("reply").to_bytes());
    }
    assert_eq!(
        String::from_utf8_lossy(&got),
        "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n\
         -ERR wrong number of arguments for 'get' command\r\n\
         -ERR unknown command 'foo', with args beginning with: \r\n"
    );
    assert_alive(&mut c).await;
}

#[tokio::test]
async fn client_disconnecting_mid_command_does_not_disturb_others() {
    let node = Node::start(&[]);
    let mut probe = node.raw().await;
    for cut in
        [b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\nabc".as_slice(), b"*3\r\n$3\r\nSET\r\n$1\r\nk", b"*3\r\n$3", b"SET k v"]
    {
        let mut c = node.raw().await;
        c.send_raw(cut).await.expect("send");
        assert_alive(&mut probe).await;
        drop(c);
        assert_alive(&mut probe).await;
    }
    assert_eq!(probe.cmd(&["GET", "k"]).await.expect("GET"), Frame::NullBulk, "half commands never ran");
    // A client stalled in the middle of a command does not block others either.
    let mut stalled = node.raw().await;
    stalled.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv").await.expect("send");
    assert_alive(&mut probe).await;
    stalled.send_raw(b"al\r\n").await.expect("send");
    assert_eq!(stalled.read_frame().await.expect("OK"), Frame::simple("OK"));
    assert_eq!(probe.cmd(&["GET", "k"]).await.expect("GET"), Frame::bulk("val"));
}

#[tokio::test]
async fn random_garbage_never_kills_the_server() {
    let node = Node::start(&[]);
    let mut probe = node.raw().await;
    // A fixed-seed xorshift generator: reproducible, no extra dependency.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let prefixes: [&[u8]; 6] = [b"", b"*", b"*2\r\n", b"*2\r\n$", b"$", b"*1\r\n$4\r\n"];
    for round in 0..200 {
        let len = (next() % 300) as usize + 1;
        let mut bytes = prefixes[round % prefixes.len()].to_vec();
        bytes.extend((0..len).map(|_| next() as u8));
        let mut c = node.raw().await;
        c.send_raw(&bytes).await.expect("send");
        if round % 2 == 0 {
            // Sometimes read whatever comes back (until close or a short timeout).
            c.set_timeout(Some(Duration::from_millis(20)));
            while c.read_frame().await.is_ok() {}
        }
        drop(c);
        assert_alive(&mut probe).await;
    }
    assert_eq!(probe.cmd(&["SET", "still", "here"]).await.expect("SET"), Frame::simple("OK"));
}

#[tokio::test]
async fn pipeline_of_ten_thousand_commands_in_one_write() {
    let node = Node::start(&[]);
    let mut c = node.raw().await;
    let cmds: Vec<Vec<&str>> = (0..10_000).map(|_| vec!["INCR", "counter"]).collect();
    let replies = c.pipeline(&cmds).await.expect("pipeline");
    assert_eq!(replies.len(), 10_000);
    for (i, r) in replies.into_iter().enumerate() {
        assert_eq!(r, Frame::Integer(i as i64 + 1), "reply {i} out of order");
    }
    assert!(c.buffered().is_empty());
    assert_eq!(c.cmd(&["GET", "counter"]).await.expect("GET"), Frame::bulk("10000"));
}

/// The soft open-files limit of this process, from /proc (Linux).
fn open_files_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

#[tokio::test]
async fn ten_thousand_idle_connections() {
    // Both this process and the node (which inherits the limit) hold one descriptor per
    // connection, plus a margin for other tests running in parallel. With a limit under
    // ~10,500 the test uses as many connections as fit, rather than failing on EMFILE.
    let n = 10_000.min(open_files_limit().saturating_sub(500));
    assert!(n >= 500, "open-files limit too low for this test: {}", open_files_limit());
    // maxclients defaults to 10000 (as in Redis); raise it so the probe fits as well.
    let node = Node::start(&["--set", "maxclients=11000"]);
    let mut probe = node.raw().await;
    let mut idle = Vec::with_capacity(n);
    for i in 0..n {
        let s = tokio::time::timeout(Duration::from_secs(10), tokio::net::TcpStream::connect(node.addr()))
            .await
            .expect("connect in time")
            .expect("connect");
        idle.push(s);
        if i % 1000 == 999 {
            assert_alive(&mut probe).await;
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let f = probe.cmd(&["INFO", "clients"]).await.expect("INFO");
        let text = String::from_utf8_lossy(f.as_bytes().expect("text")).into_owned();
        let connected = text
            .lines()
            .find_map(|l| l.strip_prefix("connected_clients:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .expect("connected_clients");
        if connected == n + 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "connected_clients {connected}, want {}", n + 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for i in 0..100 {
        assert_eq!(probe.cmd(&["SET", "k", &i.to_string()]).await.expect("SET"), Frame::simple("OK"));
    }
    // One of the idle connections still works.
    let mut last = idle.pop().expect("one");
    tokio::io::AsyncWriteExt::write_all(&mut last, b"PING\r\n").await.expect("write");
    let mut buf = [0u8; 7];
    tokio::time::timeout(Duration::from_secs(10), tokio::io::AsyncReadExt::read_exact(&mut last, &mut buf))
        .await
        .expect("reply in time")
        .expect("read");
    assert_eq!(&buf, b"+PONG\r\n");
    drop(idle);
    assert_alive(&mut probe).await;
}
