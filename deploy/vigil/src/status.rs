//! `vigil status`: a group at a glance, from one sentinel's RESP API (and the instances it
//! lists): the master and its epochs, each replica's offset and lag behind the master, and what
//! every sentinel of the group answers for the master.

use std::time::Duration;

use anyhow::{Context as _, bail};
use vigil_proto::{Client, Frame};

/// `vigil status` options.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A sentinel of the group (host:port of its RESP API).
    #[arg(long, default_value = "127.0.0.1:26379")]
    pub sentinel: String,
    /// The master group's name.
    #[arg(long, default_value = "mymaster")]
    pub name: String,
}

fn text(f: &Frame) -> String {
    f.as_bytes().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default()
}

async fn query(addr: &str, args: &[&str]) -> anyhow::Result<Frame> {
    let mut c = Client::connect(addr, Duration::from_secs(1)).await.with_context(|| format!("cannot reach {addr}"))?;
    let f = c.cmd(args).await.with_context(|| format!("{addr}: {}", args.join(" ")))?;
    if let Frame::Error(e) = &f {
        bail!("{addr}: {}: {}", args.join(" "), String::from_utf8_lossy(e));
    }
    Ok(f)
}

/// A flat field/value reply as pairs.
fn pairs(f: &Frame) -> Vec<(String, String)> {
    match f {
        Frame::Array(items) => {
            items.chunks(2).filter(|kv| kv.len() == 2).map(|kv| (text(&kv[0]), text(&kv[1]))).collect()
        }
        _ => Vec::new(),
    }
}

fn get<'a>(p: &'a [(String, String)], k: &str) -> &'a str {
    p.iter().find(|(key, _)| key == k).map_or("?", |(_, v)| v.as_str())
}

fn info_field(info: &str, k: &str) -> Option<String> {
    info.lines().find_map(|l| l.strip_prefix(&format!("{k}:"))).map(|v| v.trim().to_string())
}

/// Runs `vigil status`.
pub async fn run(a: Args) -> anyhow::Result<()> {
    let m = pairs(&query(&a.sentinel, &["SENTINEL", "MASTER", &a.name]).await?);
    let master = format!("{}:{}", get(&m, "ip"), get(&m, "port"));
    let master_offset = match query(&master, &["INFO", "replication"]).await {
        Ok(f) => info_field(&text(&f), "master_repl_offset").and_then(|v| v.parse::<i64>().ok()),
        Err(_) => None,
    };
    println!(
        "group {}: master {master}  flags {}  config-epoch {}  quorum {}",
        a.name,
        get(&m, "flags"),
        get(&m, "config-epoch"),
        get(&m, "quorum")
    );
    println!("master offset {}", master_offset.map_or("unreachable".to_string(), |o| o.to_string()));

    println!();
    println!("{:<22} {:<26} {:>12} {:>10} {:<6}", "replica", "flags", "offset", "lag", "link");
    if let Frame::Array(list) = query(&a.sentinel, &["SENTINEL", "REPLICAS", &a.name]).await? {
        for r in &list {
            let r = pairs(r);
            // Asked now, not the sentinel's INFO of up to 10 s ago, so the lag means something.
            let fresh = match query(get(&r, "name"), &["INFO", "replication"]).await {
                Ok(f) => info_field(&text(&f), "slave_repl_offset"),
                Err(_) => None,
            };
            let offset_text = fresh.unwrap_or_else(|| get(&r, "slave-repl-offset").to_string());
            let offset = offset_text.parse::<i64>().ok();
            let lag = match (master_offset, offset) {
                (Some(m), Some(o)) => (m - o).max(0).to_string(),
                _ => "?".into(),
            };
            println!(
                "{:<22} {:<26} {:>12} {:>10} {:<6}",
                get(&r, "name"),
                get(&r, "flags"),
                offset_text,
                lag,
                get(&r, "master-link-status")
            );
        }
    }

    println!();
    println!("{:<22} {:<22} {:<8} flags", "sentinel", "answers master", "leads");
    let mut sentinels = vec![(a.sentinel.clone(), "(asked)".to_string())];
    if let Frame::Array(list) = query(&a.sentinel, &["SENTINEL", "SENTINELS", &a.name]).await? {
        for s in &list {
            let s = pairs(s);
            sentinels.push((format!("{}:{}", get(&s, "ip"), get(&s, "port")), get(&s, "flags").to_string()));
        }
    }
    for (addr, flags) in sentinels {
        let info = query(&addr, &["INFO", "sentinel"]).await.map(|f| text(&f));
        // A group member that has just started gives no address until it has caught up.
        let catching_up = info.as_ref().is_ok_and(|i| info_field(i, "sentinel_group_synced").as_deref() == Some("0"));
        let answer = match query(&addr, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", &a.name]).await {
            Ok(Frame::Array(v)) if v.len() == 2 => format!("{}:{}", text(&v[0]), text(&v[1])),
            Ok(_) if catching_up => "(catching up)".into(),
            Ok(_) => "(unknown)".into(),
            Err(_) => "(unreachable)".into(),
        };
        let leads = match &info {
            Ok(i) => info_field(i, "sentinel_group_leader")
                .map_or("-".into(), |v| if v == "1" { "yes" } else { "no" }.to_string()),
            Err(_) => "?".into(),
        };
        println!("{:<22} {:<22} {:<8} {}", addr, answer, leads, flags);
    }
    Ok(())
}
