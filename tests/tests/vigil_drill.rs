//! `vigil drill` against the local group of `vigil up`: the master fails under a writing client,
//! and the drill's numbers are consistent; with `--wait 1` no acknowledged write is lost.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use vigil_tests::bin;

/// A running `vigil up` (stopped with SIGINT when dropped) and its first sentinel's address.
struct Up {
    child: Child,
    sentinel: String,
    dir: std::path::PathBuf,
}

impl Up {
    fn start(tag: &str) -> Up {
        let dir = std::env::temp_dir().join(format!("vigil-drill-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut child = Command::new(bin("vigil"))
            .args(["up", "--port", "0", "--sentinel-port", "0", "--down-after-ms", "1000", "--dir"])
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("vigil up");
        let mut sentinel = None;
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        for line in lines.by_ref() {
            let line = line.expect("line");
            if line.starts_with("sentinel-1") {
                sentinel = line.split_whitespace().nth(1).map(str::to_string);
            }
            if line.starts_with("ready.") {
                break;
            }
        }
        // Keep reading, so that `vigil up` never writes into a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Up { child, sentinel: sentinel.expect("sentinel-1 listed"), dir }
    }

    fn drill(&self, scenario: &str, extra: &[&str]) -> String {
        let out = Command::new(bin("vigil"))
            .args(["drill", scenario, "--json", "--sentinel", &self.sentinel])
            .args(extra)
            .output()
            .expect("vigil drill");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "drill failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        stdout
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The number after `"key": ` in the drill's JSON line.
fn num(json: &str, key: &str) -> i64 {
    let at = json.find(&format!("\"{key}\": ")).unwrap_or_else(|| panic!("{key} missing: {json}"));
    let rest = &json[at + key.len() + 4..];
    rest.split([',', '}']).next().and_then(|v| v.trim().parse().ok()).unwrap_or_else(|| panic!("{key}: {json}"))
}

// One test, the scenarios one after the other: two groups started at once could pick the same
// free ports.
#[test]
fn drills_with_wait_1_lose_no_acknowledged_write() {
    {
        let up = Up::start("kill");
        let r = up.drill("kill-master", &["--wait", "1"]);
        let (acked, lost) = (num(&r, "acknowledged"), num(&r, "lost"));
        assert!(acked > 0, "{r}");
        assert_eq!(lost, 0, "acknowledged writes lost with WAIT 1: {r}");
        let (sdown, odown, switch) = (num(&r, "sdown_ms"), num(&r, "odown_ms"), num(&r, "switch_ms"));
        assert!(sdown <= odown && odown <= switch, "detection before the switch: {r}");
        assert!(num(&r, "unavailable_ms") >= 0 && num(&r, "split_brain_ms") == 0, "{r}");
        eprintln!("kill-master: {r}");
    }
    let up = Up::start("pause");
    let r = up.drill("pause-master", &["--wait", "1"]);
    assert_eq!(num(&r, "lost"), 0, "acknowledged writes lost with WAIT 1: {r}");
    assert!(num(&r, "switch_ms") < 5000, "the failover happened while the master was stopped: {r}");
    eprintln!("pause-master: {r}");
}
