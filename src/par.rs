//! Data parallelism for CPU-bound work with no I/O ordering concerns (parsing included files,
//! resolving a large plan's memberships), without a thread-pool dependency: scoped threads, one
//! per core (at most 8), taking items in turn. Results come back in input order, so callers
//! stay deterministic.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The most threads any call uses.
const MAX_THREADS: usize = 8;

/// `f` over `items`, in order. Runs on the calling thread when there are fewer than
/// `min_per_thread` items per available core (threads would cost more than they save).
pub fn map<T, U, F>(items: &[T], min_per_thread: usize, f: F) -> Vec<U>
where
    T: Sync,
    U: Send,
    F: Fn(&T) -> U + Sync,
{
    // Blocks small enough that a thread finishing early finds more to take.
    blocks(
        items,
        min_per_thread,
        |threads| items.len().div_ceil(threads * 8),
        f,
    )
}

/// [`map`] for items whose costs differ by orders of magnitude (a rule that scans every user
/// beside one that looks a value up): each item is taken on its own, so that no thread is left
/// with a block of the costly ones.
pub fn map_each<T, U, F>(items: &[T], min_per_thread: usize, f: F) -> Vec<U>
where
    T: Sync,
    U: Send,
    F: Fn(&T) -> U + Sync,
{
    blocks(items, min_per_thread, |_| 1, f)
}

/// `f` over `items` in order, threads taking blocks of `block(threads)` items in turn.
fn blocks<T, U, F>(
    items: &[T],
    min_per_thread: usize,
    block: impl Fn(usize) -> usize,
    f: F,
) -> Vec<U>
where
    T: Sync,
    U: Send,
    F: Fn(&T) -> U + Sync,
{
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(MAX_THREADS)
        .min(items.len() / min_per_thread.max(1));
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let block = block(threads).max(1);
    let next = AtomicUsize::new(0);
    let mut blocks: Vec<(usize, Vec<U>)> = Vec::new();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let start = next.fetch_add(block, Ordering::Relaxed);
                        if start >= items.len() {
                            break;
                        }
                        let end = (start + block).min(items.len());
                        done.push((start, items[start..end].iter().map(&f).collect()));
                    }
                    done
                })
            })
            .collect();
        for worker in workers {
            match worker.join() {
                Ok(done) => blocks.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    blocks.sort_unstable_by_key(|(start, _)| *start);
    blocks.into_iter().flat_map(|(_, out)| out).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_input_order_whatever_the_split() {
        let items: Vec<u32> = (0..10_000).collect();
        for min in [1, 100, 20_000] {
            let out = super::map(&items, min, |i| i * 2);
            assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
            let out = super::map_each(&items, min, |i| i * 2);
            assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        }
        assert!(super::map(&[] as &[u32], 1, |i| *i).is_empty());
    }
}
