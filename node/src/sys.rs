//! What the operating system and the allocator say about this process (for INFO).

/// Bytes the allocator has handed out and not taken back (glibc's `mallinfo2`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn heap_bytes() -> u64 {
    // SAFETY: mallinfo2 takes no arguments, has no preconditions and returns a plain struct by
    // value; it only reads the allocator's own bookkeeping under the allocator's locks.
    let mi = unsafe { libc::mallinfo2() };
    (mi.uordblks + mi.hblkhd) as u64
}

/// Bytes the allocator has handed out (not available on this platform: resident size instead).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn heap_bytes() -> u64 {
    rss_bytes()
}

/// Resident set size in bytes, from /proc/self/statm (0 if unavailable).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

/// User and system CPU seconds used by this process, from /proc/self/stat.
pub fn cpu_seconds() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return (0.0, 0.0) };
    // Fields after the command name (which is in parentheses and may contain spaces).
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return (0.0, 0.0) };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the full line: 12 and 13 after the name.
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (ticks(11), ticks(12))
}
