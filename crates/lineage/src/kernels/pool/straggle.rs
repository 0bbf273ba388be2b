//! When to leave the workers out: another process sharing a core.
//!
//! With a busy loop on one of two cores, three threads want two cores. The scheduler
//! then takes the caller off its core for whole time slices, or a worker in the middle
//! of a task (and the join waits for it), and a spinning worker takes the caller's
//! share of a core. Every fork-join pays for it: without this, 2-thread SmolLM2 decode
//! fell to 31 tok/s against 113 on 1 thread. Running the jobs on the caller alone, with
//! the workers asleep, gives the caller a core of its own again.
//!
//! The sign is the caller's own time off the CPU while it runs parallel jobs: over a
//! window of [`WINDOW`], its thread CPU time against the wall time. On an idle machine
//! it is near zero (the caller spins rather than sleeps); with a core shared it is a
//! third of the window or more. When it is over [`OFF_CPU`] of the window, the next
//! jobs run solo, then the workers are tried for another window. A retry that is off
//! the CPU again makes the next solo stretch four times longer (up to [`SOLO_MAX`] jobs;
//! a short benchmark would spend its time on retries otherwise); one that is not
//! resets it.

use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// Solo stretches, in jobs: ~4 SmolLM2 tokens at first, ~4 s at most.
const SOLO_MIN: usize = 512;
const SOLO_MAX: usize = 65536;
/// The window over which the caller's time off the CPU is weighed: several scheduler
/// time slices.
const WINDOW: Duration = Duration::from_millis(20);
/// The fraction of a window off the CPU that means a shared core.
const OFF_CPU: f64 = 0.2;
/// A pause between parallel jobs longer than this (the caller waiting for a request,
/// say) starts a new window: a thread that sleeps of its own accord is not contended.
const GAP: Duration = Duration::from_millis(2);

/// A window of parallel jobs on one thread.
struct Window {
    thread: ThreadId,
    start: Instant,
    /// The thread's CPU time at `start`.
    cpu: Duration,
    /// When the last parallel job ended.
    last: Instant,
}

#[derive(Default)]
pub(super) struct Straggle {
    window: Option<Window>,
    /// Jobs left to run on the caller alone.
    solo: usize,
    /// Whether the current window is the retry after a solo stretch.
    probing: bool,
    /// Length of the last solo stretch (0 = none since the workers were trusted).
    backoff: usize,
}

impl Straggle {
    /// Whether this job should skip the workers (and counts it down).
    pub(super) fn solo(&mut self) -> bool {
        if self.solo == 0 {
            return false;
        }
        self.solo -= 1;
        self.window = None;
        true
    }

    /// Records a parallel job that ran from `start` to `end` on the calling thread.
    pub(super) fn note(&mut self, start: Instant, end: Instant) {
        if !enabled() {
            return;
        }
        let thread = std::thread::current().id();
        let fresh = match &mut self.window {
            Some(w) if w.thread == thread && start.duration_since(w.last) <= GAP => {
                w.last = end;
                end.duration_since(w.start) < WINDOW
            }
            _ => {
                self.window = thread_cpu().map(|cpu| Window {
                    thread,
                    start: end,
                    cpu,
                    last: end,
                });
                return;
            }
        };
        if fresh {
            return;
        }
        let (Some(w), Some(cpu)) = (self.window.take(), thread_cpu()) else {
            return;
        };
        let wall = end.duration_since(w.start);
        let off = wall.saturating_sub(cpu.saturating_sub(w.cpu));
        self.window = Some(Window {
            thread,
            start: end,
            cpu,
            last: end,
        });
        self.weigh(off.as_secs_f64() > OFF_CPU * wall.as_secs_f64());
    }

    /// Acts on a finished window: `contended` when the caller was off the CPU too long.
    fn weigh(&mut self, contended: bool) {
        let probing = std::mem::take(&mut self.probing);
        if !contended {
            self.backoff = 0;
            return;
        }
        self.backoff = if probing && self.backoff > 0 {
            (self.backoff * 4).min(SOLO_MAX)
        } else {
            SOLO_MIN
        };
        self.solo = self.backoff;
        self.probing = true;
    }
}

/// Whether contention is watched at all (`LINEAGE_POOL_SOLO=0` turns it off).
fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("LINEAGE_POOL_SOLO").as_deref() != Ok("0"))
}

/// The calling thread's CPU time, where the OS reports it.
#[cfg(unix)]
fn thread_cpu() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

#[cfg(not(unix))]
fn thread_cpu() -> Option<Duration> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contended_windows_send_jobs_solo_and_repeats_back_off() {
        let mut s = Straggle::default();
        s.weigh(false);
        assert!(!s.solo(), "an uncontended window keeps the workers");
        s.weigh(true);
        assert_eq!(s.solo, SOLO_MIN);
        (0..SOLO_MIN).for_each(|_| assert!(s.solo()));
        assert!(!s.solo());
        // The retry is contended again: a four times longer stretch.
        s.weigh(true);
        assert_eq!(s.solo, 4 * SOLO_MIN);
        s.solo = 0;
        // A clean retry resets the stretch.
        s.weigh(false);
        assert_eq!(s.backoff, 0);
        s.weigh(true);
        assert_eq!(s.solo, SOLO_MIN);
    }

    /// A thread that sleeps between jobs of its own accord is not taken for a
    /// contended one; one that sleeps inside its jobs (off the CPU, as when the
    /// scheduler takes it off) is.
    #[test]
    fn time_off_the_cpu_inside_jobs_counts_and_pauses_between_them_do_not() {
        let spin = |d: Duration| {
            let t = Instant::now();
            while t.elapsed() < d {
                std::hint::spin_loop();
            }
        };
        let mut s = Straggle::default();
        let until = Instant::now() + 3 * WINDOW;
        while Instant::now() < until {
            let t0 = Instant::now();
            spin(Duration::from_micros(300));
            s.note(t0, Instant::now());
            std::thread::sleep(GAP + Duration::from_millis(1));
        }
        assert!(!s.solo(), "sleeping between jobs was taken for contention");
        let until = Instant::now() + 3 * WINDOW;
        while Instant::now() < until && s.solo == 0 {
            let t0 = Instant::now();
            spin(Duration::from_micros(300));
            std::thread::sleep(Duration::from_millis(1));
            s.note(t0, Instant::now());
        }
        assert!(thread_cpu().is_none() || s.solo(), "time off the CPU went unseen");
    }
}
