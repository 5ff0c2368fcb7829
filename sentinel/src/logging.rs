//! Logging with Redis's levels, changeable at run time (`SENTINEL CONFIG SET loglevel`).
//!
//! Levels map to tracing's: `debug` -> TRACE, `verbose` -> DEBUG, `notice` -> INFO (the
//! default), `warning` -> WARN, `nothing` -> off. The level is one atomic read per log call.
//! openraft's own events appear only at `verbose` and `debug`.

use std::sync::atomic::{AtomicU8, Ordering};

use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// 0 = off, 1 = warn, 2 = info, 3 = debug, 4 = trace.
static LEVEL: AtomicU8 = AtomicU8::new(2);

fn rank(l: &tracing::Level) -> u8 {
    match *l {
        tracing::Level::ERROR | tracing::Level::WARN => 1,
        tracing::Level::INFO => 2,
        tracing::Level::DEBUG => 3,
        tracing::Level::TRACE => 4,
    }
}

/// Sets the level by Redis name (unknown names are ignored: callers validate).
pub fn set_level(name: &str) {
    let v = match name {
        "nothing" => 0,
        "warning" => 1,
        "notice" => 2,
        "verbose" => 3,
        "debug" => 4,
        _ => return,
    };
    LEVEL.store(v, Ordering::Relaxed);
}

/// Installs the global subscriber (stderr, no colours).
pub fn init(level: &str) {
    set_level(level);
    // openraft reports every failed RPC to an unreachable peer as a warning, twice a second:
    // its own events are shown from `verbose` on; ours say what an operator needs (leadership
    // changes, proposals, the failover steps).
    let filter = tracing_subscriber::filter::filter_fn(|meta| {
        let level = LEVEL.load(Ordering::Relaxed);
        let allowed = if meta.target().starts_with("openraft") && level < 3 { 0 } else { level };
        rank(meta.level()) <= allowed
    });
    let layer = tracing_subscriber::fmt::layer().with_target(false).with_ansi(false).with_filter(filter);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}
