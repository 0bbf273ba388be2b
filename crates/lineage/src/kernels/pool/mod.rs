//! A small persistent thread pool for data-parallel kernels (row chunks of a matmul).
//!
//! Spawning threads per matmul costs tens of microseconds, as much as a whole decode
//! matmul of a small model; these workers park on a condvar between jobs instead. A decode
//! step runs ~120 small matmuls back to back, so a worker first spins briefly (and the
//! caller spins for stragglers) before sleeping: a futex wake per matmul would cost more
//! than the matmul's second half, so the caller only makes one when a worker sleeps.
//!
//! The join waits for the workers that took part, not for all of them: a worker enters
//! a job through a gate while it is open, and the caller closes it once out of tasks.
//! A worker that was asleep, or off its core, when the job came costs nothing. With a
//! busy core and no other defence (`LINEAGE_POOL_SOLO=0`), 2-thread SmolLM2 decode
//! measured 61-70 tok/s with the gate, where a join that waited for every worker had
//! measured 31 (an earlier session, 113 on 1 thread); `straggle.rs` handles the rest.
//!
//! Reference: the fork-join shape of ggml's `ggml_graph_compute` thread pool, kept minimal.
//! Threads: `LINEAGE_THREADS`, else `available_parallelism()`.
//! A task that panics on a worker is re-raised on the caller of `run` once all tasks
//! have been joined, as if the caller had run it.

mod straggle;

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use straggle::Straggle;

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
// so workers may use them through shared references. A worker dereferences them only
// after entering the job's gate while it is open, and `run` keeps both alive until every
// worker inside has left (its `JoinGuard` closes the gate and waits, also on unwind).
unsafe impl Send for Job {}

struct Slot {
    job: Option<Job>,
    epoch: u64,
    shutdown: bool,
    /// Workers asleep on `wake`: the caller only makes the wake-up call (a syscall)
    /// when there are some.
    sleepers: usize,
    /// Whether the caller sleeps on `done`: the last worker out only wakes it then.
    waiting: bool,
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

/// The [`Shared::gate`] word: the job's epoch from bit `EPOCH_SHIFT` up, `CLOSED` once
/// the caller has run out of tasks, and below it the number of workers inside the job.
const EPOCH_SHIFT: u32 = 16;
const CLOSED: u64 = 1 << 15;
const INSIDE: u64 = CLOSED - 1;

/// The gate word of an open job of `epoch` with nobody inside.
fn gate_open(epoch: u64) -> u64 {
    epoch << EPOCH_SHIFT
}

struct Shared {
    /// Mirrors `Slot::epoch` for lock-free spinning.
    epoch_hint: AtomicU64,
    /// Who may still enter the current job, and who is inside: a worker enters only
    /// while the job is open, and the caller, once out of tasks, closes it and waits
    /// for those inside alone. So a worker that the scheduler has not run yet (its core
    /// busy with another process, or still waking up) costs the caller nothing.
    gate: AtomicU64,
    /// Set while a worker's panic waits in `Slot::panic`, so the join takes the lock
    /// only then.
    panicked: AtomicBool,
    slot: Mutex<Slot>,
    wake: Condvar,
    done: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Enters the job of `epoch` unless it is closed or a later one was published.
    fn enter(&self, epoch: u64) -> bool {
        let mut g = self.gate.load(Ordering::Acquire);
        loop {
            if g & !(CLOSED | INSIDE) != gate_open(epoch) || g & CLOSED != 0 {
                return false;
            }
            match self
                .gate
                .compare_exchange_weak(g, g + 1, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(now) => g = now,
            }
        }
    }

    /// Leaves the job (its outputs published to the caller); the last one out of a
    /// closed job wakes the caller if it sleeps.
    fn leave(&self) {
        let before = self.gate.fetch_sub(1, Ordering::Release);
        if before & CLOSED != 0 && before & INSIDE == 1 {
            let slot = self.lock();
            if slot.waiting {
                self.done.notify_all();
            }
        }
    }
}

/// Fork-join pool: `run(n, f)` calls `f(0..n)` across the caller and the workers.
pub struct Pool {
    shared: Arc<Shared>,
    /// Held by the caller of a parallel job; the contention watch it carries is only
    /// touched under it.
    busy: Mutex<Straggle>,
    workers: Vec<JoinHandle<()>>,
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
            let mut slot = shared.lock();
            while slot.epoch == seen && !slot.shutdown {
                slot.sleepers += 1;
                slot = shared.wake.wait(slot).unwrap_or_else(|e| e.into_inner());
                slot.sleepers -= 1;
            }
            if slot.shutdown {
                return;
            }
            seen = slot.epoch;
            slot.job
        };
        // A job closed before this worker got here was finished by the caller.
        let Some(job) = job.filter(|_| shared.enter(seen)) else {
            continue;
        };
        // SAFETY: this worker entered the job's epoch while it was open, and `run`'s
        // JoinGuard keeps `f` and `next` alive until every worker inside has left,
        // which this one does only below, after `drain` has returned.
        let (f, next) = unsafe { (&*job.f, &*job.next) };
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| drain(f, next, job.n_tasks))) {
            shared.lock().panic.get_or_insert(p);
            shared.panicked.store(true, Ordering::Release);
        }
        shared.leave();
    }
}

/// Closes the job (also while unwinding) and waits until no worker is inside, then
/// re-raises a worker's panic unless the caller is already unwinding. The time the
/// caller slept in the wait goes to `slept`, for the contention watch.
struct JoinGuard<'a> {
    shared: &'a Shared,
    slept: &'a std::cell::Cell<Duration>,
}

impl Drop for JoinGuard<'_> {
    fn drop(&mut self) {
        let shared = self.shared;
        let inside = || shared.gate.load(Ordering::Acquire) & INSIDE != 0;
        if shared.gate.fetch_or(CLOSED, Ordering::AcqRel) & INSIDE != 0 && !spin_until(|| !inside())
        {
            let asleep = Instant::now();
            let mut slot = shared.lock();
            slot.waiting = true;
            while inside() {
                slot = shared.done.wait(slot).unwrap_or_else(|e| e.into_inner());
            }
            slot.waiting = false;
            self.slept.set(asleep.elapsed());
        }
        if !shared.panicked.swap(false, Ordering::Acquire) {
            return;
        }
        let panic = shared.lock().panic.take();
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
            gate: AtomicU64::new(gate_open(0) | CLOSED),
            panicked: AtomicBool::new(false),
            slot: Mutex::new(Slot {
                job: None,
                epoch: 0,
                shutdown: false,
                sleepers: 0,
                waiting: false,
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
            busy: Mutex::new(Straggle::default()),
            workers,
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
        let mut guard = match self.busy.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return (0..n_tasks).for_each(f),
        };
        if self.workers.is_empty() || n_tasks <= 1 || guard.solo() {
            return (0..n_tasks).for_each(f);
        }
        let t0 = Instant::now();
        let next = AtomicUsize::new(0);
        // SAFETY: the same fat pointer with its lifetime erased, so that `Slot` can hold
        // it; `join` (dropped before this frame ends, also on unwind) waits until no
        // worker holds it, so it is never used after the borrow of `f` ends.
        let f_static: *const TaskFn<'static> =
            unsafe { std::mem::transmute(f as *const TaskFn<'_>) };
        let sleepers = {
            let mut slot = self.shared.lock();
            slot.job = Some(Job {
                f: f_static,
                next: &next,
                n_tasks,
            });
            slot.epoch += 1;
            // The epoch wraps in the gate's bits; a worker compares it the same way.
            let epoch = slot.epoch & (u64::MAX >> EPOCH_SHIFT);
            slot.epoch = epoch;
            self.shared.gate.store(gate_open(epoch), Ordering::Release);
            self.shared.epoch_hint.store(epoch, Ordering::Release);
            slot.sleepers
        };
        if sleepers > 0 {
            self.shared.wake.notify_all();
        }
        let slept = std::cell::Cell::new(Duration::ZERO);
        let join = JoinGuard {
            shared: &self.shared,
            slept: &slept,
        };
        drain(f, &next, n_tasks);
        let drained = Instant::now();
        drop(join);
        // Only jobs of a few tasks: a one-task job leaves the workers idle anyway.
        if n_tasks >= 4 {
            guard.note(t0, drained, Instant::now(), slept.get());
        }
        drop(guard);
    }
}

/// The start of a buffer whose disjoint chunks the tasks of one job write.
struct Chunks<T>(*mut T);
// SAFETY: a bare address; `Pool::run_chunks` hands each task a chunk no other task
// touches, of a `&mut [T]` it holds until the job is joined, so sharing the address
// amounts to sending each `&mut` chunk to one thread (hence `T: Send`).
unsafe impl<T: Send> Sync for Chunks<T> {}

impl Pool {
    /// Calls `f(t, chunk)` for the `t`-th `len`-long chunk of `buf` (the last may be
    /// shorter), spread over the pool as [`Pool::run`] spreads tasks.
    pub fn run_chunks<T: Send>(
        &self,
        buf: &mut [T],
        len: usize,
        f: &(dyn Fn(usize, &mut [T]) + Sync),
    ) {
        let (total, len) = (buf.len(), len.max(1));
        let base = Chunks(buf.as_mut_ptr());
        let base = &base;
        self.run(total.div_ceil(len), &|t| {
            let start = t * len;
            let n = len.min(total - start);
            // SAFETY: t < ceil(total / len), so start < total and start + n <= total:
            // the chunk lies in `buf`, and chunks of distinct tasks do not overlap;
            // `run` returns only after every task, while `buf` is still borrowed.
            let chunk = unsafe { std::slice::from_raw_parts_mut(base.0.add(start), n) };
            f(t, chunk)
        });
    }

    /// Calls `f(i, row)` for every `width`-long row `i` of `buf`: on the caller alone
    /// below [`PAR_ROWS`] rows (decode, where a fork-join costs more than the rows),
    /// else about four tasks per thread. For the row-wise steps between matmuls (norms,
    /// activations): in prefill the other threads would otherwise wait through them.
    pub fn for_rows<T: Send>(
        &self,
        buf: &mut [T],
        width: usize,
        f: &(dyn Fn(usize, &mut [T]) + Sync),
    ) {
        let w = width.max(1);
        let n = buf.len() / w;
        let buf = &mut buf[..n * w];
        if n < PAR_ROWS || self.n_threads() == 1 {
            return buf
                .chunks_exact_mut(w)
                .enumerate()
                .for_each(|(i, r)| f(i, r));
        }
        let per_task = n.div_ceil(4 * self.n_threads());
        self.run_chunks(buf, per_task * w, &|t, chunk| {
            for (k, r) in chunk.chunks_exact_mut(w).enumerate() {
                f(t * per_task + k, r);
            }
        });
    }
}

/// Rows from which [`Pool::for_rows`] uses the workers.
pub const PAR_ROWS: usize = 4;

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

    /// A worker enters only the open job of the epoch it read; once the caller has
    /// closed the job, or published a later one, it stays out.
    #[test]
    fn gate_admits_only_the_open_current_job() {
        let pool = Pool::new(1);
        let s = &pool.shared;
        s.gate.store(gate_open(7), Ordering::Release);
        assert!(s.enter(7) && s.enter(7), "an open job admits every worker");
        assert!(!s.enter(6), "a stale epoch is refused");
        assert_eq!(s.gate.fetch_or(CLOSED, Ordering::AcqRel) & INSIDE, 2);
        assert!(!s.enter(7), "a closed job is refused");
        s.leave();
        s.leave();
        assert_eq!(s.gate.load(Ordering::Acquire) & INSIDE, 0);
        let wrapped = u64::MAX >> EPOCH_SHIFT;
        s.gate.store(gate_open(wrapped), Ordering::Release);
        assert!(s.enter(wrapped), "the largest epoch still fits the gate");
    }

    /// Jobs of every size back to back, with tasks that yield the core: every task of
    /// every job runs once, and its writes are visible when `run` returns.
    #[test]
    fn pool_many_short_jobs_with_preempted_tasks() {
        let pool = Pool::new(3);
        for round in 0..3000usize {
            let n = 1 + round % 9;
            let hits: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
            pool.run(n, &|t| {
                if (t + round) % 5 == 0 {
                    std::thread::yield_now();
                }
                hits[t].fetch_add(1, Ordering::Relaxed);
            });
            assert!(
                hits.iter().all(|h| h.load(Ordering::Relaxed) == 1),
                "round {round}"
            );
        }
    }

    #[test]
    fn run_chunks_hands_each_chunk_to_one_task() {
        let pool = Pool::new(3);
        let mut v = vec![0usize; 103];
        pool.run_chunks(&mut v, 10, &|t, c| {
            assert!(c.len() == 10 || (t == 10 && c.len() == 3));
            c.iter_mut().for_each(|x| *x += t + 1);
        });
        assert!(v.iter().enumerate().all(|(i, &x)| x == i / 10 + 1));
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
