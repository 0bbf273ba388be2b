//! A small persistent thread pool for data-parallel kernels (row chunks of a matmul).
//!
//! Spawning threads per matmul costs tens of microseconds, as much as a whole decode
//! matmul of a small model; these workers park on a condvar between jobs instead. A decode
//! step runs ~120 small matmuls back to back, so a worker first spins briefly (and the
//! caller spins for stragglers) before sleeping: a futex wake per matmul would cost more
//! than the matmul's second half.
//! Reference: the fork-join shape of ggml's `ggml_graph_compute` thread pool, kept minimal.
//! Threads: `LINEAGE_THREADS`, else `available_parallelism()`.
//! A task that panics on a worker is re-raised on the caller of `run` once all tasks
//! have been joined, as if the caller had run it.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

type TaskFn<'a> = dyn Fn(usize) + Sync + 'a;

/// A published job: a task function and the shared task counter, both on the caller's
/// stack. `run` does not return before every worker has finished with them.
#[derive(Clone, Copy)]
struct Job {
    f: *const TaskFn<'static>,
    next: *const AtomicUsize,
    n_tasks: usize,
}

// SAFETY: `f` points at a `dyn Fn + Sync` and `next` at an `AtomicUsize`, both `Sync`,
// so workers may use them through shared references; `run` keeps both alive until every
// worker has released the job (its `JoinGuard` waits for `busy == 0`, also on unwind).
unsafe impl Send for Job {}

struct Slot {
    job: Option<Job>,
    epoch: u64,
    busy: usize,
    shutdown: bool,
    /// The first panic payload of a task run on a worker during the current job.
    panic: Option<Box<dyn Any + Send>>,
}

/// How long a worker spins for the next job, and the caller for workers, before sleeping.
const SPIN: Duration = Duration::from_micros(200);

/// Spins until `ready()` or `SPIN` has passed; returns whether it became ready.
fn spin_until(ready: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            if ready() {
                return true;
            }
            std::hint::spin_loop();
        }
        if start.elapsed() > SPIN {
            return ready();
        }
    }
}

struct Shared {
    /// Mirrors `Slot::epoch` / `Slot::busy` for lock-free spinning.
    epoch_hint: AtomicU64,
    busy_hint: AtomicUsize,
    slot: Mutex<Slot>,
    wake: Condvar,
    done: Condvar,
}

/// Fork-join pool: `run(n, f)` calls `f(0..n)` across the caller and the workers.
pub struct Pool {
    shared: Arc<Shared>,
    busy_lock: Mutex<()>,
    workers: Vec<JoinHandle<()>>,
    straggle: Straggle,
}

/// When another process shares a worker's core, the scheduler deschedules the worker for
/// whole time slices, and every fork-join waits for it: a 2-thread decode then falls far
/// below a 1-thread one (measured: 31 vs 113 tok/s on SmolLM2). The caller notes each
/// job where, after it ran out of tasks, it waited for the workers longer than its own
/// share took twice over and over 0.1 ms; when that happens in 16 of the last 64 jobs, the next jobs run on the
/// caller alone, then the workers are tried again. A retry that straggles at once doubles
/// the next solo stretch (up to `SOLO_MAX` jobs); one that does not resets it.
#[derive(Default)]
struct Straggle {
    /// One bit per recent job of at least 4 tasks: 1 = a worker straggled.
    history: AtomicU64,
    /// Jobs left to run on the caller alone.
    solo: AtomicUsize,
    /// Parallel jobs left in the retry after a solo stretch.
    probe: AtomicUsize,
    /// Length of the next solo stretch (0 = `SOLO_MIN`).
    backoff: AtomicUsize,
}

/// Solo stretches, in jobs: ~4 SmolLM2 tokens at first, ~4 s at most.
const SOLO_MIN: usize = 512;
const SOLO_MAX: usize = 65536;
/// Parallel jobs that must pass without stragglers for the workers to be trusted again.
const PROBE: usize = 64;

impl Straggle {
    /// Whether this job should skip the workers (and counts it down).
    fn solo(&self) -> bool {
        let left = self.solo.load(Ordering::Relaxed);
        if left == 0 {
            return false;
        }
        self.solo.store(left - 1, Ordering::Relaxed);
        true
    }

    /// Whether stragglers are watched at all (`LINEAGE_POOL_SOLO=0` turns it off).
    fn enabled() -> bool {
        static ON: OnceLock<bool> = OnceLock::new();
        *ON.get_or_init(|| std::env::var("LINEAGE_POOL_SOLO").as_deref() != Ok("0"))
    }

    /// Records a parallel job: the caller's own share took `own`, the join `wait`.
    /// Only the caller holding the pool's busy lock calls this, so plain loads and
    /// stores suffice.
    fn note(&self, own: Duration, wait: Duration) {
        // A descheduled worker costs a scheduler time slice (milliseconds); an unlucky
        // split of the tasks costs at most a task or two (microseconds in decode).
        let late = wait > (2 * own).max(Duration::from_micros(100));
        let h = (self.history.load(Ordering::Relaxed) << 1) | late as u64;
        let probing = self.probe.load(Ordering::Relaxed);
        if h.count_ones() >= 16 {
            let base = self.backoff.load(Ordering::Relaxed).max(SOLO_MIN);
            let len = if probing > 0 {
                (base * 2).min(SOLO_MAX)
            } else {
                base
            };
            self.backoff.store(len, Ordering::Relaxed);
            self.solo.store(len, Ordering::Relaxed);
            self.probe.store(PROBE, Ordering::Relaxed);
            self.history.store(0, Ordering::Relaxed);
            return;
        }
        self.history.store(h, Ordering::Relaxed);
        if probing > 0 {
            self.probe.store(probing - 1, Ordering::Relaxed);
            if probing == 1 {
                self.backoff.store(SOLO_MIN, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod straggle_tests {
    use super::*;

    #[test]
    fn stragglers_send_jobs_solo_and_repeated_ones_back_off() {
        let s = Straggle::default();
        let (fast, slow) = (Duration::from_micros(100), Duration::from_millis(3));
        for _ in 0..15 {
            s.note(fast, slow);
        }
        assert!(!s.solo(), "15 stragglers are not enough");
        s.note(fast, fast);
        s.note(fast, slow);
        assert_eq!(s.solo.load(Ordering::Relaxed), SOLO_MIN);
        (0..SOLO_MIN).for_each(|_| assert!(s.solo()));
        assert!(!s.solo());
        // The retry straggles at once: a twice longer stretch.
        (0..16).for_each(|_| s.note(fast, slow));
        assert_eq!(s.solo.load(Ordering::Relaxed), 2 * SOLO_MIN);
        s.solo.store(0, Ordering::Relaxed);
        // A clean retry resets the stretch.
        (0..PROBE).for_each(|_| s.note(fast, fast));
        assert_eq!(s.backoff.load(Ordering::Relaxed), SOLO_MIN);
        assert!(!s.solo());
    }
}

fn drain(f: &TaskFn<'_>, next: &AtomicUsize, n_tasks: usize) {
    loop {
        let t = next.fetch_add(1, Ordering::Relaxed);
        if t >= n_tasks {
            return;
        }
        f(t);
    }
}

fn worker(shared: Arc<Shared>) {
    let mut seen = 0u64;
    loop {
        spin_until(|| shared.epoch_hint.load(Ordering::Acquire) != seen);
        let job = {
            let mut slot = shared.slot.lock().unwrap_or_else(|e| e.into_inner());
            while slot.epoch == seen && !slot.shutdown {
                slot = shared.wake.wait(slot).unwrap_or_else(|e| e.into_inner());
            }
            if slot.shutdown {
                return;
            }
            seen = slot.epoch;
            slot.job
        };
        let panicked = job.and_then(|job| {
            // SAFETY: `run` published this job and its JoinGuard keeps `f` and `next`
            // alive until `busy == 0`; this worker decrements `busy` only below, after
            // `drain` has returned.
            let (f, next) = unsafe { (&*job.f, &*job.next) };
            catch_unwind(AssertUnwindSafe(|| drain(f, next, job.n_tasks))).err()
        });
        shared.busy_hint.fetch_sub(1, Ordering::Release);
        let mut slot = shared.slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = panicked {
            slot.panic.get_or_insert(p);
        }
        slot.busy -= 1;
        if slot.busy == 0 {
            shared.done.notify_all();
        }
    }
}

/// Waits (also while unwinding) until no worker still uses the published job, then
/// re-raises a worker's panic unless the caller is already unwinding.
struct JoinGuard<'a>(&'a Shared);

impl Drop for JoinGuard<'_> {
    fn drop(&mut self) {
        spin_until(|| self.0.busy_hint.load(Ordering::Acquire) == 0);
        let mut slot = self.0.slot.lock().unwrap_or_else(|e| e.into_inner());
        while slot.busy > 0 {
            slot = self.0.done.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
        slot.job = None;
        let panic = slot.panic.take();
        drop(slot);
        if let Some(p) = panic.filter(|_| !std::thread::panicking()) {
            resume_unwind(p);
        }
    }
}

impl Pool {
    /// A pool with `n_threads` threads in all (the caller counts as one).
    pub fn new(n_threads: usize) -> Self {
        let shared = Arc::new(Shared {
            epoch_hint: AtomicU64::new(0),
            busy_hint: AtomicUsize::new(0),
            slot: Mutex::new(Slot {
                job: None,
                epoch: 0,
                busy: 0,
                shutdown: false,
                panic: None,
            }),
            wake: Condvar::new(),
            done: Condvar::new(),
        });
        let workers = (1..n_threads.max(1))
            .filter_map(|i| {
                let s = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("lineage-kernel-{i}"))
                    .spawn(move || worker(s))
                    .ok()
            })
            .collect();
        Self {
            shared,
            busy_lock: Mutex::new(()),
            workers,
            straggle: Straggle::default(),
        }
    }

    /// Threads in all, the caller included.
    pub fn n_threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Calls `f(t)` for every `t in 0..n_tasks`, spread over the pool; returns when all
    /// calls have returned. A nested or concurrent call runs on the calling thread alone.
    /// A panicking task panics here, after every other task has finished.
    pub fn run(&self, n_tasks: usize, f: &(dyn Fn(usize) + Sync)) {
        // A panic that went through an earlier `run` poisons the lock; the pool is fine.
        let guard = match self.busy_lock.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        let guard = match guard {
            Some(g) if !self.workers.is_empty() && n_tasks > 1 && !self.straggle.solo() => g,
            _ => return (0..n_tasks).for_each(f),
        };
        let t0 = Instant::now();
        let next = AtomicUsize::new(0);
        // SAFETY: the same fat pointer with its lifetime erased, so that `Slot` can hold
        // it; `join` (dropped before this frame ends, also on unwind) waits until no
        // worker holds it, so it is never used after the borrow of `f` ends.
        let f_static: *const TaskFn<'static> =
            unsafe { std::mem::transmute(f as *const TaskFn<'_>) };
        {
            let mut slot = self.shared.slot.lock().unwrap_or_else(|e| e.into_inner());
            slot.job = Some(Job {
                f: f_static,
                next: &next,
                n_tasks,
            });
            slot.epoch += 1;
            slot.busy = self.workers.len();
            self.shared
                .busy_hint
                .store(self.workers.len(), Ordering::Release);
            self.shared.epoch_hint.store(slot.epoch, Ordering::Release);
        }
        self.shared.wake.notify_all();
        let join = JoinGuard(&self.shared);
        drain(f, &next, n_tasks);
        let own = t0.elapsed();
        drop(join);
        if n_tasks >= 4 && Straggle::enabled() {
            self.straggle.note(own, t0.elapsed() - own);
        }
        drop(guard);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if let Ok(mut slot) = self.shared.slot.lock() {
            slot.shutdown = true;
        }
        self.shared.wake.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// The process-wide kernel pool.
pub fn global() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let n = std::env::var("LINEAGE_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        Pool::new(n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn pool_run_many_jobs_visits_every_task_once() {
        let pool = Pool::new(3);
        for round in 0..200u64 {
            let sum = AtomicU64::new(0);
            pool.run(17, &|t| {
                sum.fetch_add(t as u64 + round, Ordering::Relaxed);
            });
            assert_eq!(
                sum.load(Ordering::Relaxed),
                (0..17).sum::<u64>() + 17 * round
            );
        }
    }

    /// A worker's panic used to be swallowed: `run` returned with that task's outputs
    /// never written. The caller blocks in its first task until a worker has panicked,
    /// so the panic is certainly a worker's.
    #[test]
    fn pool_run_worker_panic_reaches_the_caller() {
        use std::sync::atomic::AtomicBool;
        let pool = Pool::new(2);
        let hit = AtomicBool::new(false);
        let r = catch_unwind(AssertUnwindSafe(|| {
            pool.run(2, &|_| {
                let on_worker = std::thread::current()
                    .name()
                    .is_some_and(|n| n.starts_with("lineage-kernel"));
                if on_worker {
                    hit.store(true, Ordering::Release);
                    panic!("task panicked on a worker");
                }
                let start = Instant::now();
                while !hit.load(Ordering::Acquire) && start.elapsed() < Duration::from_secs(5) {
                    std::thread::yield_now();
                }
            })
        }));
        assert!(hit.load(Ordering::Acquire), "no worker ran a task");
        assert!(r.is_err(), "the worker's panic did not reach the caller");
        let sum = AtomicU64::new(0);
        pool.run(8, &|t| {
            sum.fetch_add(t as u64, Ordering::Relaxed);
        });
        assert_eq!(
            sum.load(Ordering::Relaxed),
            28,
            "the pool still works afterwards"
        );
    }

    #[test]
    fn pool_nested_run_completes_serially() {
        let pool = Pool::new(2);
        let count = AtomicU64::new(0);
        pool.run(4, &|_| {
            pool.run(3, &|_| {
                count.fetch_add(1, Ordering::Relaxed);
            });
        });
        assert_eq!(count.load(Ordering::Relaxed), 12);
    }
}
