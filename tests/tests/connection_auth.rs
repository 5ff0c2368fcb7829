//! Connection commands, HELLO negotiation, requirepass authentication, and CLIENT subcommands.

use vigil_proto::{Client, Frame};
use vigil_tests::{Node, assert_closed};

const NOAUTH: &str = "NOAUTH Authentication required.";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

fn b(s: &str) -> Frame {
    Frame::bulk(s)
}

async fn cmd(c: &mut Client, args: &[&str]) -> Frame {
    c.cmd(args).await.expect("reply")
}

async fn err(c: &mut Client, args: &[&str]) -> String {
    let f = cmd(c, args).await;
    f.as_error().unwrap_or_else(|| panic!("{args:?} should fail, got {f:?}"))
}

fn text(f: &Frame) -> String {
    String::from_utf8_lossy(f.as_bytes().unwrap_or_else(|| panic!("not text: {f:?}"))).into_owned()
}

/// `key=value` fields of one CLIENT INFO / CLIENT LIST line.
fn field(line: &str, key: &str) -> String {
    line.split(' ')
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")).map(str::to_string))
        .unwrap_or_else(|| panic!("no {key}= in {line}"))
}

fn hello_pairs(f: Frame) -> Vec<(String, Frame)> {
    match f {
        Frame::Map(pairs) => pairs.into_iter().map(|(k, v)| (text(&k), v)).collect(),
        Frame::Array(items) => items.chunks(2).map(|kv| (text(&kv[0]), kv[1].clone())).collect(),
        other => panic!("HELLO reply: {other:?}"),
    }
}

#[tokio::test]
async fn ping_echo_and_arity() {
    let node = Node::start(&[]);
    let mut c = node.raw().await;
    assert_eq!(cmd(&mut c, &["PING"]).await, Frame::simple("PONG"));
    assert_eq!(cmd(&mut c, &["PING", "hi"]).await, b("hi"));
    assert_eq!(cmd(&mut c, &["ECHO", "a\r\nb"]).await, b("a\r\nb"));
    assert_eq!(err(&mut c, &["PING", "a", "b"]).await, "ERR wrong number of arguments for 'ping' command");
    assert_eq!(err(&mut c, &["ECHO"]).await, "ERR wrong number of arguments for 'echo' command");
}

#[tokio::test]
async fn hello_negotiates_the_protocol() {
    let node = Node::start(&[]);
    let mut c = node.raw().await;
    let id = match cmd(&mut c, &["CLIENT", "ID"]).await {
        Frame::Integer(n) => n,
        other => panic!("CLIENT ID: {other:?}"),
    };
    let two = cmd(&mut c, &["HELLO", "2"]).await;
    assert!(matches!(two, Frame::Array(ref v) if v.len() == 14), "{two:?}");
    let pairs = hello_pairs(two);
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["server", "version", "proto", "id", "mode", "role", "modules"]);
    assert_eq!(pairs[0].1, b("redis"));
    assert!(text(&pairs[1].1).starts_with("7."), "version {:?}", pairs[1].1);
    assert_eq!(pairs[2].1, Frame::Integer(2));
    assert_eq!(pairs[3].1, Frame::Integer(id));
    assert_eq!(pairs[4].1, b("standalone"));
    assert_eq!(pairs[5].1, b("master"));
    assert_eq!(pairs[6].1, Frame::Array(vec![]));

    let three = cmd(&mut c, &["HELLO", "3"]).await;
    assert!(matches!(three, Frame::Map(ref v) if v.len() == 7), "{three:?}");
    let pairs = hello_pairs(three);
    assert_eq!(pairs[2], ("proto".to_string(), Frame::Integer(3)));
    assert_eq!(pairs[3], ("id".to_string(), Frame::Integer(id)));
    // Now RESP3 shapes are used; HELLO with no arguments does not switch back.
    assert_eq!(cmd(&mut c, &["GET", "nope"]).await, Frame::Null);
    assert!(matches!(cmd(&mut c, &["HELLO"]).await, Frame::Map(_)));
    assert_eq!(cmd(&mut c, &["GET", "nope"]).await, Frame::Null);

    assert_eq!(err(&mut c, &["HELLO", "4"]).await, "NOPROTO unsupported protocol version");
    assert_eq!(err(&mut c, &["HELLO", "1"]).await, "NOPROTO unsupported protocol version");
    assert_eq!(err(&mut c, &["HELLO", "abc"]).await, "ERR Protocol version is not an integer or out of range");
    assert_eq!(err(&mut c, &["HELLO", "3", "foo"]).await, "ERR Syntax error in HELLO option 'foo'");
    // HELLO 2 SETNAME switches back and names the connection.
    assert!(matches!(cmd(&mut c, &["HELLO", "2", "SETNAME", "app"]).await, Frame::Array(_)));
    assert_eq!(cmd(&mut c, &["CLIENT", "GETNAME"]).await, b("app"));
    assert_eq!(cmd(&mut c, &["GET", "nope"]).await, Frame::NullBulk);
}

#[tokio::test]
async fn requirepass_gates_every_command() {
    let node = Node::start(&["--requirepass", "secret"]);
    let mut c = node.raw().await;
    assert_eq!(err(&mut c, &["PING"]).await, NOAUTH);
    assert_eq!(err(&mut c, &["GET", "k"]).await, NOAUTH);
    assert_eq!(err(&mut c, &["FOO"]).await, "ERR unknown command 'FOO', with args beginning with: ");
    assert_eq!(
        err(&mut c, &["HELLO", "3"]).await,
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
    );
    assert_eq!(err(&mut c, &["AUTH", "wrong"]).await, WRONGPASS);
    assert_eq!(err(&mut c, &["AUTH", "default", "wrong"]).await, WRONGPASS);
    assert_eq!(err(&mut c, &["AUTH", "alice", "secret"]).await, WRONGPASS);
    assert_eq!(err(&mut c, &["AUTH", "a", "b", "c"]).await, "ERR syntax error");
    assert_eq!(err(&mut c, &["PING"]).await, NOAUTH);
    assert_eq!(cmd(&mut c, &["AUTH", "secret"]).await, Frame::simple("OK"));
    assert_eq!(cmd(&mut c, &["PING"]).await, Frame::simple("PONG"));

    let mut d = node.raw().await;
    assert_eq!(cmd(&mut d, &["AUTH", "default", "secret"]).await, Frame::simple("OK"));
    assert_eq!(cmd(&mut d, &["SET", "k", "v"]).await, Frame::simple("OK"));

    let mut h = node.raw().await;
    assert_eq!(err(&mut h, &["HELLO", "3", "AUTH", "default", "nope"]).await, WRONGPASS);
    let pairs = hello_pairs(cmd(&mut h, &["HELLO", "3", "AUTH", "default", "secret", "SETNAME", "h"]).await);
    assert_eq!(pairs[2].1, Frame::Integer(3));
    assert_eq!(cmd(&mut h, &["GET", "k"]).await, b("v"));
    assert_eq!(cmd(&mut h, &["CLIENT", "GETNAME"]).await, b("h"));

    // RESET de-authenticates.
    assert_eq!(cmd(&mut h, &["RESET"]).await, Frame::simple("RESET"));
    assert_eq!(err(&mut h, &["GET", "k"]).await, NOAUTH);
}

#[tokio::test]
async fn unauthenticated_big_multibulk_is_refused_and_closed() {
    let node = Node::start(&["--requirepass", "secret"]);
    let mut c = node.raw().await;
    c.send_raw(b"*11\r\n").await.expect("send");
    assert_eq!(
        c.read_frame().await.expect("reply"),
        Frame::error("ERR Protocol error: unauthenticated multibulk length")
    );
    assert_closed(&mut c).await;
    // Up to 10 arguments are fine before AUTH (they get NOAUTH).
    let mut d = node.raw().await;
    let ten = ["DEL", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    assert_eq!(err(&mut d, &ten).await, NOAUTH);
    assert_eq!(cmd(&mut d, &["AUTH", "secret"]).await, Frame::simple("OK"));
    let many: Vec<String> = std::iter::once("DEL".to_string()).chain((0..50).map(|i| i.to_string())).collect();
    assert_eq!(d.cmd(&many).await.expect("reply"), Frame::Integer(0));
}

#[tokio::test]
async fn auth_without_a_configured_password() {
    let node = Node::start(&[]);
    let mut c = node.raw().await;
    assert_eq!(
        err(&mut c, &["AUTH", "foo"]).await,
        "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
    );
    assert_eq!(cmd(&mut c, &["AUTH", "default", "anything"]).await, Frame::simple("OK"));
    assert_eq!(cmd(&mut c, &["PING"]).await, Frame::simple("PONG"));
}

#[tokio::test]
async fn client_id_names_and_info() {
    let node = Node::start(&[]);
    let mut a = node.raw().await;
    let mut bb = node.raw().await;
    let (ida, idb) = match (cmd(&mut a, &["CLIENT", "ID"]).await, cmd(&mut bb, &["CLIENT", "ID"]).await) {
        (Frame::Integer(x), Frame::Integer(y)) => (x, y),
        other => panic!("{other:?}"),
    };
    assert!(idb > ida, "ids increase: {ida} {idb}");
    assert_eq!(cmd(&mut a, &["CLIENT", "GETNAME"]).await, Frame::NullBulk);
    assert_eq!(cmd(&mut a, &["CLIENT", "SETNAME", "alpha"]).await, Frame::simple("OK"));
    assert_eq!(cmd(&mut a, &["CLIENT", "GETNAME"]).await, b("alpha"));
    assert_eq!(
        err(&mut a, &["CLIENT", "SETNAME", "a b"]).await,
        "ERR Client names cannot contain spaces, newlines or special characters."
    );
    assert_eq!(err(&mut a, &["CLIENT", "FOO"]).await, "ERR unknown subcommand 'FOO'. Try CLIENT HELP.");
    assert_eq!(cmd(&mut a, &["SELECT", "3"]).await, Frame::simple("OK"));

    let info = text(&cmd(&mut a, &["CLIENT", "INFO"]).await);
    let line = info.trim_end();
    assert_eq!(field(line, "id"), ida.to_string());
    assert_eq!(field(line, "name"), "alpha");
    assert_eq!(field(line, "db"), "3");
    assert_eq!(field(line, "cmd"), "client|info");
    assert_eq!(field(line, "resp"), "2");
    let addr = field(line, "addr");
    assert_eq!(addr, a.stream_mut().local_addr().expect("addr").to_string());

    let list = text(&cmd(&mut bb, &["CLIENT", "LIST"]).await);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(lines.iter().any(|l| field(l, "id") == ida.to_string() && field(l, "name") == "alpha"));
    let only_a = text(&cmd(&mut bb, &["CLIENT", "LIST", "ID", &ida.to_string()]).await);
    assert_eq!(only_a.lines().count(), 1);
    assert_eq!(field(only_a.trim_end(), "id"), ida.to_string());
    assert_eq!(text(&cmd(&mut bb, &["CLIENT", "LIST", "TYPE", "pubsub"]).await), "");

    // An empty name clears it.
    assert_eq!(cmd(&mut a, &["CLIENT", "SETNAME", ""]).await, Frame::simple("OK"));
    assert_eq!(cmd(&mut a, &["CLIENT", "GETNAME"]).await, Frame::NullBulk);
}

#[tokio::test]
async fn client_kill_by_id_addr_and_type() {
    let node = Node::start(&[]);
    let mut admin = node.raw().await;
    let mut victim = node.raw().await;
    let vid = match cmd(&mut victim, &["CLIENT", "ID"]).await {
        Frame::Integer(n) => n,
        other => panic!("{other:?}"),
    };
    assert_eq!(cmd(&mut admin, &["CLIENT", "KILL", "ID", "999999"]).await, Frame::Integer(0));
    assert_eq!(cmd(&mut admin, &["CLIENT", "KILL", "ID", &vid.to_string()]).await, Frame::Integer(1));
    assert_closed(&mut victim).await;

    let mut v2 = node.raw().await;
    assert_eq!(cmd(&mut v2, &["PING"]).await, Frame::simple("PONG"), "registered by the server");
    let addr = v2.stream_mut().local_addr().expect("addr").to_string();
    assert_eq!(cmd(&mut admin, &["CLIENT", "KILL", &addr]).await, Frame::simple("OK"));
    assert_closed(&mut v2).await;
    assert_eq!(err(&mut admin, &["CLIENT", "KILL", "1.2.3.4:5"]).await, "ERR No such client");

    let mut v3 = node.raw().await;
    assert_eq!(cmd(&mut v3, &["PING"]).await, Frame::simple("PONG"), "registered by the server");
    let addr = v3.stream_mut().local_addr().expect("addr").to_string();
    assert_eq!(cmd(&mut admin, &["CLIENT", "KILL", "ADDR", &addr]).await, Frame::Integer(1));
    assert_closed(&mut v3).await;

    let mut sub = node.raw().await;
    assert_eq!(
        cmd(&mut sub, &["SUBSCRIBE", "ch"]).await,
        Frame::Array(vec![b("subscribe"), b("ch"), Frame::Integer(1)])
    );
    let mut normal = node.raw().await;
    assert_eq!(cmd(&mut normal, &["PING"]).await, Frame::simple("PONG"));
    assert_eq!(cmd(&mut admin, &["CLIENT", "KILL", "TYPE", "pubsub"]).await, Frame::Integer(1));
    assert_closed(&mut sub).await;
    assert_eq!(cmd(&mut normal, &["PING"]).await, Frame::simple("PONG"));
    // TYPE normal kills every normal client except the caller (SKIPME yes by default).
    assert_eq!(cmd(&mut admin, &["CLIENT", "KILL", "TYPE", "normal"]).await, Frame::Integer(1));
    assert_closed(&mut normal).await;
    assert_eq!(cmd(&mut admin, &["PING"]).await, Frame::simple("PONG"));
    assert_eq!(err(&mut admin, &["CLIENT", "KILL", "TYPE", "foo"]).await, "ERR Unknown client type 'foo'");
}

#[tokio::test]
async fn quit_and_reset() {
    let node = Node::start(&[]);
    let mut c = node.raw().await;
    assert_eq!(cmd(&mut c, &["QUIT"]).await, Frame::simple("OK"));
    assert_closed(&mut c).await;

    let mut r = node.raw().await;
    assert!(matches!(cmd(&mut r, &["HELLO", "3"]).await, Frame::Map(_)));
    assert_eq!(cmd(&mut r, &["SELECT", "2"]).await, Frame::simple("OK"));
    assert_eq!(cmd(&mut r, &["CLIENT", "SETNAME", "n"]).await, Frame::simple("OK"));
    assert_eq!(cmd(&mut r, &["RESET"]).await, Frame::simple("RESET"));
    // Back to RESP2, db 0, no name.
    assert_eq!(cmd(&mut r, &["GET", "nope"]).await, Frame::NullBulk);
    assert_eq!(cmd(&mut r, &["CLIENT", "GETNAME"]).await, Frame::NullBulk);
    let info = text(&cmd(&mut r, &["CLIENT", "INFO"]).await);
    assert_eq!(field(info.trim_end(), "db"), "0");
    assert_eq!(field(info.trim_end(), "resp"), "2");
}

#[tokio::test]
async fn redis_py_like_connect_sequence() {
    let node = Node::start(&[]);
    let mut c = node.raw().await;
    let reply = c
        .pipeline(&[
            vec!["HELLO", "3"],
            vec!["CLIENT", "SETINFO", "LIB-NAME", "x"],
            vec!["CLIENT", "SETINFO", "LIB-VER", "1.0"],
            vec!["SELECT", "1"],
        ])
        .await
        .expect("pipeline");
    assert!(matches!(reply[0], Frame::Map(_)), "{:?}", reply[0]);
    assert_eq!(reply[1..], [Frame::simple("OK"), Frame::simple("OK"), Frame::simple("OK")]);
    let info = text(&cmd(&mut c, &["CLIENT", "INFO"]).await);
    let line = info.trim_end();
    assert_eq!(field(line, "lib-name"), "x");
    assert_eq!(field(line, "lib-ver"), "1.0");
    assert_eq!(field(line, "resp"), "3");
    assert_eq!(field(line, "db"), "1");
    assert_eq!(err(&mut c, &["CLIENT", "SETINFO", "FOO", "x"]).await, "ERR Unrecognized option 'FOO'");
    assert_eq!(
        err(&mut c, &["CLIENT", "SETINFO", "LIB-NAME", "a b"]).await,
        "ERR lib-name cannot contain spaces, newlines or special characters."
    );
}
