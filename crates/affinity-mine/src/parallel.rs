//! Work spread over threads with an output that does not depend on their number: units are
//! handed out dynamically, each writes its own sink part, and the parts are absorbed in unit
//! order.

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
