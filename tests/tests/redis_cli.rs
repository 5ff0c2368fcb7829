//! The stock `redis-cli` against the node: one-shot commands in raw and `--no-raw` mode, RESP3
//! (`-3`) rendering, and database selection (`-n`). Expected outputs were taken from redis-cli
//! talking to a real Redis 7.0.15 server.

use vigil_tests::{Node, redis_cli};

#[test]
fn one_shot_commands_raw_output() {
    let node = Node::start(&[]);
    assert_eq!(redis_cli(&node, &["SET", "k", "v"]), "OK\n");
    assert_eq!(redis_cli(&node, &["GET", "k"]), "v\n");
    assert_eq!(redis_cli(&node, &["GET", "nope"]), "\n");
    assert_eq!(redis_cli(&node, &["INCR", "n"]), "1\n");
    assert_eq!(redis_cli(&node, &["INCR", "n"]), "2\n");
    assert_eq!(redis_cli(&node, &["MGET", "k", "nope", "n"]), "v\n\n2\n");
    assert_eq!(redis_cli(&node, &["PING"]), "PONG\n");
    assert_eq!(redis_cli(&node, &["GET"]), "ERR wrong number of arguments for 'get' command\n\n");
    // Values with spaces and newlines travel as one argument and come back verbatim.
    assert_eq!(redis_cli(&node, &["SET", "multi", "a b\nc"]), "OK\n");
    assert_eq!(redis_cli(&node, &["GET", "multi"]), "a b\nc\n");
}

#[test]
fn no_raw_output_is_typed() {
    let node = Node::start(&[]);
    assert_eq!(redis_cli(&node, &["SET", "k", "v"]), "OK\n");
    assert_eq!(redis_cli(&node, &["--no-raw", "GET", "k"]), "\"v\"\n");
    assert_eq!(redis_cli(&node, &["--no-raw", "GET", "nope"]), "(nil)\n");
    assert_eq!(redis_cli(&node, &["--no-raw", "INCR", "n"]), "(integer) 1\n");
    assert_eq!(redis_cli(&node, &["--no-raw", "MGET", "k", "nope", "n"]), "1) \"v\"\n2) (nil)\n3) \"1\"\n");
    assert_eq!(redis_cli(&node, &["--no-raw", "EXISTS", "k"]), "(integer) 1\n");
    assert_eq!(redis_cli(&node, &["--no-raw", "PING"]), "PONG\n");
    assert_eq!(redis_cli(&node, &["--no-raw", "SET", "multi", "a\nb"]), "OK\n");
    assert_eq!(redis_cli(&node, &["--no-raw", "GET", "multi"]), "\"a\\nb\"\n");
    assert_eq!(redis_cli(&node, &["--no-raw", "GET"]), "(error) ERR wrong number of arguments for 'get' command\n");
    assert_eq!(redis_cli(&node, &["--no-raw", "SET", "a", "b", "c"]), "(error) ERR syntax error\n");
    assert_eq!(redis_cli(&node, &["--no-raw", "CONFIG", "GET", "maxclients"]), "1) \"maxclients\"\n2) \"10000\"\n");
    // SCAN: a nested array; the key order is not defined, so compare the sorted lines.
    let scan = redis_cli(&node, &["--no-raw", "SCAN", "0"]);
    let mut lines: Vec<&str> = scan.lines().collect();
    assert_eq!(lines.len(), 4, "{scan}");
    assert_eq!(lines[0], "1) \"0\"");
    let first = lines[1].strip_prefix("2) ").unwrap_or_else(|| panic!("{scan}"));
    lines[1] = first;
    let mut keys: Vec<&str> = lines[1..].iter().map(|l| l.trim_start()).collect();
    keys.sort();
    let names: Vec<&str> = keys.iter().map(|l| l.split_once(' ').map_or("", |(_, n)| n)).collect();
    let mut sorted_names = names.clone();
    sorted_names.sort();
    assert_eq!(sorted_names, ["\"k\"", "\"multi\"", "\"n\""], "{scan}");
    let mut indexes: Vec<&str> = keys.iter().map(|l| l.split_once(' ').map_or("", |(i, _)| i)).collect();
    indexes.sort();
    assert_eq!(indexes, ["1)", "2)", "3)"], "{scan}");
    assert!(scan.contains("\n   "), "nested items are indented by three spaces: {scan}");
}

#[test]
fn resp3_rendering_with_dash_3() {
    let node = Node::start(&[]);
    assert_eq!(redis_cli(&node, &["-3", "GET", "nope"]), "\n");
    assert_eq!(redis_cli(&node, &["--no-raw", "-3", "GET", "nope"]), "(nil)\n");
    assert_eq!(redis_cli(&node, &["--no-raw", "-3", "PING"]), "PONG\n");
    assert_eq!(
        redis_cli(&node, &["--no-raw", "-3", "CONFIG", "GET", "maxclients"]),
        "1# \"maxclients\" => \"10000\"\n"
    );
    assert_eq!(redis_cli(&node, &["-3", "CONFIG", "GET", "maxclients"]), "maxclients 10000\n");
    assert_eq!(redis_cli(&node, &["--no-raw", "-3", "INCRBYFLOAT", "f", "1.5"]), "\"1.5\"\n");
    let hello = redis_cli(&node, &["--no-raw", "-3", "HELLO", "3"]);
    let lines: Vec<&str> = hello.lines().collect();
    assert_eq!(lines.len(), 7, "{hello}");
    assert_eq!(lines[0], "1# \"server\" => \"redis\"");
    assert!(lines[1].starts_with("2# \"version\" => \"7."), "{hello}");
    assert_eq!(lines[2], "3# \"proto\" => (integer) 3");
    assert!(lines[3].starts_with("4# \"id\" => (integer) "), "{hello}");
    assert_eq!(
        lines[4..],
        ["5# \"mode\" => \"standalone\"", "6# \"role\" => \"master\"", "7# \"modules\" => (empty array)"]
    );
}

#[test]
fn dash_n_selects_a_database() {
    let node = Node::start(&[]);
    assert_eq!(redis_cli(&node, &["SET", "k", "zero"]), "OK\n");
    assert_eq!(redis_cli(&node, &["-n", "2", "SET", "k", "two"]), "OK\n");
    assert_eq!(redis_cli(&node, &["-n", "2", "GET", "k"]), "two\n");
    assert_eq!(redis_cli(&node, &["GET", "k"]), "zero\n");
    assert_eq!(redis_cli(&node, &["-n", "2", "--no-raw", "DBSIZE"]), "(integer) 1\n");
    assert_eq!(redis_cli(&node, &["-n", "5", "--no-raw", "DBSIZE"]), "(integer) 0\n");
    assert_eq!(redis_cli(&node, &["-n", "2", "-3", "GET", "k"]), "two\n");
    let keyspace = redis_cli(&node, &["INFO", "keyspace"]);
    assert!(keyspace.contains("db0:keys=1,expires=0,avg_ttl=0"), "{keyspace}");
    assert!(keyspace.contains("db2:keys=1,expires=0,avg_ttl=0"), "{keyspace}");
}
