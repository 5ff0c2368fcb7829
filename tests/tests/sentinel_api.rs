//! The sentinel's client API: reply shapes and errors as Redis Sentinel gives them.

use vigil_tests::{Node, q, q_err, sentinel_dir, start_sentinel};

#[test]
fn replies_and_errors_match_redis_sentinel() {
    let master = Node::start(&[]);
    let s = start_sentinel(&sentinel_dir("api"), master.port, 2, &[]);
    let mut c = s.conn();
    let pong: String = q(&mut c, &["PING"]);
    assert_eq!(pong, "PONG");
    let addr: Vec<String> = q(&mut c, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"]);
    assert_eq!(addr, vec!["127.0.0.1".to_string(), master.port.to_string()], "both bulk strings");
    let none: Option<Vec<String>> = q(&mut c, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nosuch"]);
    assert_eq!(none, None, "unknown name: a null, not an error");
    assert_eq!(q_err(&mut c, &["SENTINEL", "MASTER", "nosuch"]), "ERR No such master with that name");
    assert_eq!(q_err(&mut c, &["SENTINEL", "REPLICAS", "nosuch"]), "ERR No such master with that name");
    assert_eq!(q_err(&mut c, &["SENTINEL", "MASTER"]), "ERR wrong number of arguments for 'sentinel|master' command");
    assert!(q_err(&mut c, &["SENTINEL", "NOSUCHSUB"]).starts_with("ERR unknown subcommand 'NOSUCHSUB'"));

    // SENTINEL MASTER: a flat field/value list in RESP2, every value a bulk string, Redis's order.
    let fields: Vec<String> = q(&mut c, &["SENTINEL", "MASTER", "mymaster"]);
    let keys: Vec<&str> = fields.iter().step_by(2).map(String::as_str).collect();
    assert_eq!(&keys[..5], &["name", "ip", "port", "runid", "flags"]);
    let get = |k: &str| fields.iter().position(|f| f == k).map(|i| fields[i + 1].clone());
    assert_eq!(get("name").as_deref(), Some("mymaster"));
    assert_eq!(get("quorum").as_deref(), Some("2"));
    assert_eq!(get("num-other-sentinels").as_deref(), Some("0"));

    let myid: String = q(&mut c, &["SENTINEL", "MYID"]);
    assert_eq!(myid.len(), 40);
    assert!(myid.chars().all(|ch| ch.is_ascii_hexdigit()));
    // Quorum 2 with a single sentinel can never be reached: CKQUORUM says so.
    assert!(q_err(&mut c, &["SENTINEL", "CKQUORUM", "mymaster"]).starts_with("NOQUORUM 1 usable Sentinels."));
    let role: (String, Vec<String>) = q(&mut c, &["ROLE"]);
    assert_eq!(role, ("sentinel".to_string(), vec!["mymaster".to_string()]));
}
