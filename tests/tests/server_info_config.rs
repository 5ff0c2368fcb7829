//! INFO, CONFIG, COMMAND introspection, TIME/ROLE/LASTSAVE, and loading a YAML config file.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::Value;
use vigil_tests::{Node, bin, q, q_err, wait_until};

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() as i64
}

fn info(c: &mut redis::Connection, args: &[&str]) -> String {
    let mut all = vec!["INFO"];
    all.extend_from_slice(args);
    q(c, &all)
}

fn field(info: &str, name: &str) -> String {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
        .unwrap_or_else(|| panic!("no {name} in:\n{info}"))
}

fn sections(info: &str) -> Vec<&str> {
    info.lines().filter(|l| l.starts_with("# ")).collect()
}

/// A fresh file under the temp dir, unique per test.
fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vigil-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, contents).expect("write config");
    p
}

#[test]
fn info_default_sections_and_fields() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    let text = info(&mut c, &[]);
    assert!(text.contains("\r\n"), "INFO lines end with CRLF");
    let wanted =
        ["# Server", "# Clients", "# Memory", "# Persistence", "# Stats", "# Replication", "# CPU", "# Keyspace"];
    let found: Vec<&str> = sections(&text).into_iter().filter(|s| wanted.contains(s)).collect();
    assert_eq!(found, wanted, "every classic section, in Redis order");
    let run_id = field(&text, "run_id");
    assert_eq!(run_id.len(), 40, "{run_id}");
    assert!(run_id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{run_id}");
    assert!(field(&text, "redis_version").starts_with("7."));
    assert_eq!(field(&text, "tcp_port"), node.port.to_string());
    assert_eq!(field(&text, "role"), "master");
    assert_eq!(field(&text, "connected_clients"), "1");
    // The run id is stable for the life of the process.
    assert_eq!(field(&info(&mut c, &["server"]), "run_id"), run_id);

    let _others: Vec<_> = (0..3).map(|_| node.conn()).collect();
    assert!(wait_until(Duration::from_secs(5), || field(&info(&mut c, &["clients"]), "connected_clients") == "4"));
}

#[test]
fn info_single_sections_and_keyspace() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    let server = info(&mut c, &["server"]);
    assert_eq!(sections(&server), ["# Server"]);
    assert_eq!(sections(&info(&mut c, &["Replication"])), ["# Replication"]);
    assert_eq!(sections(&info(&mut c, &["server", "clients"])), ["# Server", "# Clients"]);
    assert_eq!(info(&mut c, &["nosuchsection"]), "");
    assert_eq!(info(&mut c, &["keyspace"]).trim_end(), "# Keyspace");

    let _: () = q(&mut c, &["MSET", "a", "1", "b", "2", "c", "3"]);
    let _: () = q(&mut c, &["EXPIRE", "a", "1000"]);
    let _: () = q(&mut c, &["EXPIRE", "b", "1000"]);
    let ks = info(&mut c, &["keyspace"]);
    let db0 = field(&ks, "db0");
    let avg: i64 = db0
        .strip_prefix("keys=3,expires=2,avg_ttl=")
        .unwrap_or_else(|| panic!("{db0}"))
        .parse()
        .expect("avg_ttl is an integer");
    assert!((0..=1_000_000).contains(&avg), "avg_ttl {avg}");
    assert!(!ks.contains("db1:"), "empty databases are not listed");
}

#[test]
fn stats_count_and_config_resetstat_clears() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    let _: Option<String> = q(&mut c, &["GET", "missing"]);
    let _: () = q(&mut c, &["SET", "k", "v"]);
    let _: String = q(&mut c, &["GET", "k"]);
    let stats = info(&mut c, &["stats"]);
    assert_eq!(field(&stats, "keyspace_hits"), "1");
    assert_eq!(field(&stats, "keyspace_misses"), "1");
    assert!(field(&stats, "total_commands_processed").parse::<i64>().expect("int") >= 4);
    assert_eq!(q::<String>(&mut c, &["CONFIG", "RESETSTAT"]), "OK");
    let stats = info(&mut c, &["stats"]);
    assert_eq!(field(&stats, "keyspace_hits"), "0");
    assert_eq!(field(&stats, "keyspace_misses"), "0");
    assert!(field(&stats, "total_commands_processed").parse::<i64>().expect("int") <= 2);
}

#[test]
fn config_get_set_and_errors() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    let max: Vec<(String, String)> = q(&mut c, &["CONFIG", "GET", "max*"]);
    let names: Vec<&str> = max.iter().map(|(k, _)| k.as_str()).collect();
    assert!(names.contains(&"maxclients") && names.contains(&"maxmemory"), "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("max")), "{names:?}");
    let one: Vec<String> = q(&mut c, &["CONFIG", "GET", "maxclients"]);
    assert_eq!(one, ["maxclients", "10000"]);
    assert_eq!(q::<Vec<String>>(&mut c, &["CONFIG", "GET", "nosuch"]), Vec::<String>::new());

    assert_eq!(q::<String>(&mut c, &["CONFIG", "SET", "maxclients", "500", "hz", "20"]), "OK");
    assert_eq!(q::<Vec<String>>(&mut c, &["CONFIG", "GET", "maxclients"]), ["maxclients", "500"]);
    assert_eq!(q::<Vec<String>>(&mut c, &["CONFIG", "GET", "hz"]), ["hz", "20"]);
    assert_eq!(
        q_err(&mut c, &["CONFIG", "SET", "foo", "1"]),
        "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
    );
    assert_eq!(
        q_err(&mut c, &["CONFIG", "SET", "databases", "4"]),
        "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config"
    );
    // All or nothing: the bad second pair leaves the first unchanged.
    let e = q_err(&mut c, &["CONFIG", "SET", "hz", "30", "maxclients", "abc"]);
    assert!(e.starts_with("ERR CONFIG SET failed (possibly related to argument 'maxclients') - "), "{e}");
    assert_eq!(q::<Vec<String>>(&mut c, &["CONFIG", "GET", "hz"]), ["hz", "20"]);
    assert_eq!(q_err(&mut c, &["CONFIG", "GET"]), "ERR wrong number of arguments for 'config|get' command");
    assert_eq!(q_err(&mut c, &["CONFIG", "SET", "hz"]), "ERR wrong number of arguments for 'config|set' command");
    assert_eq!(q_err(&mut c, &["CONFIG", "FOO"]), "ERR unknown subcommand 'FOO'. Try CONFIG HELP.");

    // CONFIG SET requirepass takes effect for new connections.
    assert_eq!(q::<String>(&mut c, &["CONFIG", "SET", "requirepass", "pw"]), "OK");
    let mut other = node.conn();
    assert_eq!(q_err(&mut other, &["GET", "x"]), "NOAUTH Authentication required.");
    assert_eq!(q::<String>(&mut other, &["AUTH", "pw"]), "OK");
}

#[test]
fn command_introspection() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    let count: i64 = q(&mut c, &["COMMAND", "COUNT"]);
    let list: Vec<String> = q(&mut c, &["COMMAND", "LIST"]);
    assert_eq!(count as usize, list.len());
    assert!(list.iter().any(|n| n == "get") && list.iter().any(|n| n == "client"), "{list:?}");

    let infos: Vec<Value> = q(&mut c, &["COMMAND", "INFO", "get", "nosuch"]);
    assert_eq!(infos.len(), 2);
    assert_eq!(infos[1], Value::Nil);
    let Value::Array(get) = &infos[0] else { panic!("{:?}", infos[0]) };
    assert_eq!(get[0], Value::BulkString(b"get".to_vec()));
    assert_eq!(get[1], Value::Int(2), "arity");
    let Value::Array(flags) = &get[2] else { panic!("flags {:?}", get[2]) };
    let flags: Vec<String> = flags.iter().map(|f| redis::from_redis_value_ref(f).expect("flag")).collect();
    assert!(flags.contains(&"readonly".to_string()) && flags.contains(&"fast".to_string()), "{flags:?}");
    assert_eq!(get[3..6], [Value::Int(1), Value::Int(1), Value::Int(1)], "first key, last key, step");
    let Value::Array(mset) = &q::<Vec<Value>>(&mut c, &["COMMAND", "INFO", "mset"])[0] else { panic!() };
    assert_eq!(mset[1..2], [Value::Int(-3)]);
    assert_eq!(mset[3..6], [Value::Int(1), Value::Int(-1), Value::Int(2)]);

    let docs: Value = q(&mut c, &["COMMAND", "DOCS", "get"]);
    let Value::Array(pairs) = docs else { panic!("{docs:?}") };
    assert_eq!(pairs[0], Value::BulkString(b"get".to_vec()));
    let Value::Array(doc) = &pairs[1] else { panic!("{:?}", pairs[1]) };
    let doc: Vec<String> = doc.iter().filter_map(|v| redis::from_redis_value_ref::<String>(v).ok()).collect();
    let pos = |k: &str| doc.iter().position(|d| d == k).unwrap_or_else(|| panic!("no {k} in {doc:?}"));
    assert_eq!(doc[pos("group") + 1], "string");
    assert_eq!(doc[pos("since") + 1], "1.0.0");
    assert!(!doc[pos("summary") + 1].is_empty());
}

#[test]
fn time_role_lastsave() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    let (secs, micros): (i64, i64) = q(&mut c, &["TIME"]);
    assert!((secs - now_secs()).abs() <= 2, "TIME {secs}");
    assert!((0..1_000_000).contains(&micros));
    let role: Value = q(&mut c, &["ROLE"]);
    assert_eq!(role, Value::Array(vec![Value::BulkString(b"master".to_vec()), Value::Int(0), Value::Array(vec![])]));
    let last: i64 = q(&mut c, &["LASTSAVE"]);
    assert!(last <= now_secs() && last > now_secs() - 3600, "LASTSAVE {last}");
    assert_eq!(q_err(&mut c, &["TIME", "x"]), "ERR wrong number of arguments for 'time' command");
}

#[test]
fn starts_from_a_yaml_config_file() {
    let path = temp_file("good.yaml", "port: 0\nrequirepass: x\nhz: 25\n");
    let mut cmd = Command::new(bin("vigil-node"));
    cmd.arg("--config").arg(&path).stdout(Stdio::piped()).stderr(Stdio::piped());
    let node = Node::spawn(cmd);
    let mut c = node.conn();
    assert_eq!(q_err(&mut c, &["PING"]), "NOAUTH Authentication required.");
    assert_eq!(q::<String>(&mut c, &["AUTH", "x"]), "OK");
    assert_eq!(q::<Vec<String>>(&mut c, &["CONFIG", "GET", "hz"]), ["hz", "25"]);
    assert_eq!(q::<Vec<String>>(&mut c, &["CONFIG", "GET", "requirepass"]), ["requirepass", "x"]);
}

fn run_with_config(name: &str, yaml: &str) -> (Option<i32>, String, PathBuf) {
    let path = temp_file(name, yaml);
    let mut child = Command::new(bin("vigil-node"))
        .arg("--config")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // A bad file must stop the node at once; never leave a stray server behind.
    let exited = wait_until(Duration::from_secs(10), || matches!(child.try_wait(), Ok(Some(_))));
    if !exited {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("output");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), path)
}

#[test]
fn bad_config_file_exits_with_code_1_naming_file_and_key() {
    let (code, stderr, path) = run_with_config("bad-key.yaml", "port: 0\nbogus-key: 1\n");
    assert_eq!(code, Some(1), "stderr: {stderr}");
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(stderr.contains("bogus-key"), "{stderr}");

    let (code, stderr, path) = run_with_config("bad-value.yaml", "port: 0\nhz: lots\n");
    assert_eq!(code, Some(1), "stderr: {stderr}");
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(stderr.contains("'hz'") && stderr.contains("lots"), "{stderr}");

    let (code, stderr, _) = run_with_config("not-yaml.yaml", "port: [unclosed\n");
    assert_eq!(code, Some(1), "stderr: {stderr}");
}
