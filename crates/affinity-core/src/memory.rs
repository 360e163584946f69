//! How much more memory this process may take, so that holding millions of results can stop
//! with an error before an allocation fails (which aborts a Rust process).

/// Bytes this process can still allocate: the smaller of what its address-space limit leaves
/// (`ulimit -v`) and what the machine has available; `None` where neither is known (not
/// Linux). Read from `/proc` on each call: call it when about to grow, not per item.
///
/// ```
/// if let Some(bytes) = affinity_core::memory::headroom() {
///     assert!(bytes > 0);
/// }
/// ```
pub fn headroom() -> Option<u64> {
    let limit = address_space_limit().and_then(|limit| {
        let used = status_kib("VmSize:")? * 1024;
        Some(limit.saturating_sub(used))
    });
    let available = meminfo_kib("MemAvailable:").map(|k| k * 1024);
    match (limit, available) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Below this, [`fits`] does not look: small allocations are too many to check and too small
/// to matter.
const SMALL: u64 = 16 << 20;

/// Whether `bytes` more fit, keeping a margin for everything else the process allocates
/// meanwhile (a quarter of what is left, at least 64 MiB). True where nothing is known, and
/// for anything under 16 MiB without looking.
pub fn fits(bytes: u64) -> bool {
    bytes < SMALL
        || headroom().is_none_or(|left| {
            let margin = (left / 4).max(64 << 20);
            bytes.saturating_add(margin) <= left
        })
}

/// The soft address-space limit in bytes (`None`: unlimited or unknown).
fn address_space_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max address space"))?;
    let soft = line["Max address space".len()..]
        .split_whitespace()
        .next()?;
    soft.parse().ok()
}

fn field_kib(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

fn status_kib(key: &str) -> Option<u64> {
    field_kib("/proc/self/status", key)
}

fn meminfo_kib(key: &str) -> Option<u64> {
    field_kib("/proc/meminfo", key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_knows_its_headroom_and_refuses_the_impossible() {
        let left = headroom().expect("/proc says");
        assert!(left > 0);
        assert!(fits(1 << 20));
        assert!(fits(32 << 20));
        assert!(!fits(u64::MAX / 2));
        assert!(!fits(left));
    }
}
