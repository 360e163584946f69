//! Work spread over threads with an output that does not depend on their number. Mining
//! hands units out dynamically (their costs differ widely), each writing its own sink part,
//! and absorbs the parts in unit order; the preparation before it (`sort`, `map`) splits its
//! input into halves, whose costs are alike.

use crate::error::Result;
use crate::sink::ItemsetSink;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Runs `work(unit, state, part)` for every unit in `0..units` on up to `threads` threads, each
/// thread with its own `state` from `init`, then absorbs the parts into `sink` in unit order.
/// No unit is handed out after one fails; the first failure in unit order is returned.
pub(crate) fn in_unit_order<S, T, I, W>(
    units: usize,
    threads: usize,
    sink: &mut S,
    init: I,
    work: W,
) -> Result<()>
where
    S: ItemsetSink,
    I: Fn() -> T + Sync,
    W: Fn(usize, &mut T, &mut S::Part) -> Result<()> + Sync,
{
    let next = AtomicUsize::new(0);
    let parts: Vec<Mutex<Option<Result<S::Part>>>> = (0..units).map(|_| Mutex::new(None)).collect();
    let template = sink.part();
    std::thread::scope(|scope| {
        let mut workers = Vec::new();
        for _ in 0..threads.min(units) {
            let (next, parts, init, work) = (&next, &parts, &init, &work);
            let empty = template.part();
            workers.push(scope.spawn(move || {
                let mut state = init();
                loop {
                    let unit = next.fetch_add(1, Ordering::Relaxed);
                    if unit >= units {
                        break;
                    }
                    let mut part = empty.part();
                    let result = work(unit, &mut state, &mut part);
                    let failed = result.is_err();
                    *parts[unit].lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(result.map(|()| part));
                    if failed {
                        next.store(units, Ordering::Relaxed);
                    }
                }
            }));
        }
        // Joined one by one, not only at the end of the scope: then each thread has
        // finished its thread-local destructors too (LeakSanitizer saw them in flight).
        for worker in workers {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
    for slot in parts {
        match slot.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(Ok(part)) => sink.absorb(part)?,
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
    Ok(())
}

/// Below this many elements a slice is handled on the calling thread: a thread costs more.
const SPLIT_AT_LEAST: usize = 8192;

/// Sorts `v` on up to `threads` threads: halves sorted side by side, then merged. The result
/// is the same as `sort_unstable`'s wherever equal elements are indistinguishable.
pub(crate) fn sort<T: Ord + Send>(v: &mut Vec<T>, threads: usize) {
    if threads < 2 || v.len() < SPLIT_AT_LEAST {
        v.sort_unstable();
        return;
    }
    let mut right = v.split_off(v.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| sort(&mut right, threads / 2));
        sort(v, threads - threads / 2);
        if let Err(panic) = other.join() {
            std::panic::resume_unwind(panic);
        }
    });
    let left = std::mem::take(v);
    v.reserve_exact(left.len() + right.len());
    let (mut left, mut right) = (left.into_iter().peekable(), right.into_iter().peekable());
    while let (Some(a), Some(b)) = (left.peek(), right.peek()) {
        let next = if b < a { right.next() } else { left.next() };
        v.extend(next);
    }
    v.extend(left);
    v.extend(right);
}

/// `f` mapped over `items` on up to `threads` threads, in order.
pub(crate) fn map<T: Sync, U: Send>(
    items: &[T],
    threads: usize,
    f: &(impl Fn(&T) -> U + Sync),
) -> Vec<U> {
    if threads < 2 || items.len() < SPLIT_AT_LEAST {
        return items.iter().map(f).collect();
    }
    let (left, right) = items.split_at(items.len() / 2);
    let (mut out, rest) = std::thread::scope(|scope| {
        let other = scope.spawn(|| map(right, threads / 2, f));
        let mine = map(left, threads - threads / 2, f);
        match other.join() {
            Ok(rest) => (mine, rest),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    out.extend(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorting_and_mapping_on_threads_match_one_thread() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let v: Vec<(Vec<u32>, u64)> = (0..3 * SPLIT_AT_LEAST + 17)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let len = (state % 4) as usize;
                (
                    (0..len as u32)
                        .map(|k| k + (state >> 40) as u32 % 5)
                        .collect(),
                    state % 3,
                )
            })
            .collect();
        let mut expected = v.clone();
        expected.sort_unstable();
        for threads in [1, 2, 3, 4] {
            let mut sorted = v.clone();
            sort(&mut sorted, threads);
            assert_eq!(sorted, expected, "{threads} threads");
            let lengths = map(&v, threads, &|t: &(Vec<u32>, u64)| t.0.len() as u64 + t.1);
            let one: Vec<u64> = v.iter().map(|t| t.0.len() as u64 + t.1).collect();
            assert_eq!(lengths, one, "{threads} threads");
        }
    }
}
