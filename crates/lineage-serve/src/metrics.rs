//! Counters for `GET /metrics`, in Prometheus' text format.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub rejected: AtomicU64,
    pub cancelled: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub generated_tokens: AtomicU64,
    pub queued: AtomicU64,
    pub active: AtomicU64,
    /// Positions held in the KV caches of active sequences.
    pub kv_tokens: AtomicU64,
    /// KV blocks alive (active sequences and the prefix cache).
    pub kv_blocks: AtomicU64,
    /// Blocks held by the prefix cache.
    pub cache_blocks: AtomicU64,
    /// Prompt positions taken from the prefix cache instead of prefilled.
    pub cached_tokens: AtomicU64,
    /// Batched forwards run, and the rows (tokens) they held.
    pub batches: AtomicU64,
    pub batch_rows: AtomicU64,
    /// Time spent in prefill and decode steps, in microseconds.
    pub prefill_us: AtomicU64,
    pub decode_us: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }
    pub fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Relaxed);
    }

    pub fn render(&self) -> String {
        let g = |c: &AtomicU64| c.load(Relaxed);
        let rate = |tokens: u64, us: u64| tokens as f64 / (us as f64 / 1e6).max(1e-9);
        let rows = [
            (
                "lineage_requests_total",
                "counter",
                "requests accepted",
                g(&self.requests) as f64,
            ),
            (
                "lineage_requests_rejected_total",
                "counter",
                "requests refused (queue full)",
                g(&self.rejected) as f64,
            ),
            (
                "lineage_requests_cancelled_total",
                "counter",
                "sequences cancelled by a client disconnect",
                g(&self.cancelled) as f64,
            ),
            (
                "lineage_prompt_tokens_total",
                "counter",
                "prompt tokens prefilled",
                g(&self.prompt_tokens) as f64,
            ),
            (
                "lineage_generated_tokens_total",
                "counter",
                "tokens generated",
                g(&self.generated_tokens) as f64,
            ),
            (
                "lineage_queue_depth",
                "gauge",
                "requests waiting for a slot",
                g(&self.queued) as f64,
            ),
            (
                "lineage_active_sequences",
                "gauge",
                "sequences being decoded",
                g(&self.active) as f64,
            ),
            (
                "lineage_kv_cache_tokens",
                "gauge",
                "positions held in the KV caches of active sequences",
                g(&self.kv_tokens) as f64,
            ),
            (
                "lineage_kv_blocks_used",
                "gauge",
                "KV cache blocks of 16 positions alive (sequences and prefix cache)",
                g(&self.kv_blocks) as f64,
            ),
            (
                "lineage_prefix_cache_blocks",
                "gauge",
                "KV blocks kept by the prefix cache",
                g(&self.cache_blocks) as f64,
            ),
            (
                "lineage_prefix_cache_hit_tokens_total",
                "counter",
                "prompt positions reused from the prefix cache",
                g(&self.cached_tokens) as f64,
            ),
            (
                "lineage_batches_total",
                "counter",
                "batched forwards run",
                g(&self.batches) as f64,
            ),
            (
                "lineage_batch_rows_total",
                "counter",
                "tokens run in batched forwards (rows / batches = mean batch size)",
                g(&self.batch_rows) as f64,
            ),
            (
                "lineage_prefill_tokens_per_second",
                "gauge",
                "prefill throughput over the server's life",
                rate(g(&self.prompt_tokens), g(&self.prefill_us)),
            ),
            (
                "lineage_decode_tokens_per_second",
                "gauge",
                "decode throughput over the server's life",
                rate(g(&self.generated_tokens), g(&self.decode_us)),
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, v) in rows {
            out += &format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n");
        }
        out
    }
}
