//! Where a training step's time goes: forward, backward, optimizer, for a recipe.
//! `cargo run --release -p lineage --example train_profile -- llama-tiny [key=value ...]`

use std::time::Instant;

use candle_core::{Device, Tensor};
use lineage::train::loss::losses;
use lineage::train::{recipes, TokenSource, TrainSettings, Trainer};

struct Random(usize, usize);
impl TokenSource for Random {
    fn vocab_size(&self) -> usize {
        self.0
    }
    fn train_batch(&self, step: u64, _m: u32) -> lineage::Result<Vec<u32>> {
        Ok((0..self.1)
            .map(|i| ((i as u64 * 2654435761 + step * 97) % self.0 as u64) as u32)
            .collect())
    }
    fn val_windows(&self, _: usize) -> lineage::Result<Vec<Vec<u32>>> {
        Ok(vec![])
    }
    fn val_bytes_per_token(&self) -> Option<f64> {
        None
    }
    fn unigram_loss(&self) -> Option<f64> {
        None
    }
}

fn main() -> lineage::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map(String::as_str).unwrap_or("llama-tiny");
    let cfg = recipes::resolve(name, &args[1.min(args.len())..], Some(4096))?;
    let s = TrainSettings {
        steps: 10,
        batch: 8,
        seq_len: 128,
        ..Default::default()
    };
    let data = Random(4096, 8 * 129);
    let mut t = Trainer::from_scratch(cfg, s)?;
    t.step(&data)?;
    let ids = Tensor::from_vec(data.train_batch(0, 0)?, (8, 129), &Device::Cpu)?;
    let n = 3;
    let (mut f, mut b, mut st) = (0.0, 0.0, 0.0);
    for _ in 0..n {
        let c = Instant::now();
        let l = losses(t.model(), &ids, None, (0.0, 0.0))?;
        f += c.elapsed().as_secs_f64();
        let c = Instant::now();
        let _g = l.total.backward()?;
        b += c.elapsed().as_secs_f64();
        let c = Instant::now();
        t.step(&data)?;
        st += c.elapsed().as_secs_f64();
    }
    let k = n as f64;
    println!("{name}: {} params", t.n_params());
    println!(
        "forward {:.0} ms, backward {:.0} ms, full step {:.0} ms (=> optimizer+clip ~{:.0} ms)",
        1e3 * f / k,
        1e3 * b / k,
        1e3 * st / k,
        1e3 * (st - f - b) / k
    );
    println!("{:.0} tok/s", 8.0 * 128.0 * k / st);
    Ok(())
}
