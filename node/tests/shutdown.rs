//! Shutdown is an argument: cancelling the server's token closes every connection and `run`
//! returns once every task has finished.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use vigil_node::config::Config;
use vigil_node::server::{self, Server};

#[tokio::test]
async fn cancelling_the_token_closes_connections_and_returns() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let token = CancellationToken::new();
    let srv = Arc::new(Server::new(Config::default(), port, token.clone()));
    let running = tokio::spawn(server::run(vec![listener], srv.clone()));

    let mut clients = Vec::new();
    for _ in 0..10 {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
        s.write_all(b"PING\r\n").await.expect("write");
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).await.expect("pong");
        assert_eq!(&buf, b"+PONG\r\n");
        clients.push(s);
    }
    assert_eq!(srv.clients.len(), 10);

    token.cancel();
    tokio::time::timeout(Duration::from_secs(10), running).await.expect("run returned in time").expect("no panic");
    assert_eq!(srv.clients.len(), 0, "every connection unregistered");
    for mut c in clients {
        let mut buf = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await.expect("closed in time");
        assert!(matches!(n, Ok(0) | Err(_)), "connection closed by the server");
    }
}
