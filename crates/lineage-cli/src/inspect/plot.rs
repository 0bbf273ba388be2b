//! `--plot FILE.png`: KV-cache bytes of one sequence against context length, one line per
//! target (plotters, bitmap backend). Text is drawn with ab_glyph from a TTF file found at
//! run time (`LINEAGE_FONT`, else common system paths), so there is no fontconfig
//! dependency; without a font the chart is drawn without labels and a warning says so.

use std::path::Path;

use anyhow::{anyhow, Context};
use lineage::analysis::{kv_cache, KvDtype};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use super::Target;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

const SAMPLES: usize = 256;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Registers a TTF as "sans-serif"; false when none is found.
pub fn load_font() -> bool {
    let env = std::env::var("LINEAGE_FONT").ok();
    let candidates = env
        .iter()
        .map(String::as_str)
        .chain(FONT_PATHS.iter().copied());
    for p in candidates {
        if let Ok(bytes) = std::fs::read(p) {
            // plotters keeps fonts for the process lifetime.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return true;
            }
        }
    }
    false
}

/// Points `(context, GiB)` of one target from 0 to `max_ctx`.
fn series(t: &Target, dtype: KvDtype, max_ctx: usize) -> anyhow::Result<Vec<(f64, f64)>> {
    (0..=SAMPLES)
        .map(|i| {
            let ctx = max_ctx * i / SAMPLES;
            let b = kv_cache::bytes_at(&t.config, dtype, ctx)?;
            Ok((ctx as f64, b as f64 / GIB))
        })
        .collect()
}

pub fn kv_cache_png(path: &Path, targets: &[Target], dtype: KvDtype) -> anyhow::Result<()> {
    let fonts = load_font();
    if !fonts {
        eprintln!("warning: no TTF font found (set LINEAGE_FONT=/path/to/font.ttf); drawing the plot without text");
    }
    let max_ctx = targets
        .iter()
        .map(|t| t.config.context_len)
        .max()
        .unwrap_or(1)
        .max(1);
    let all: Vec<Vec<(f64, f64)>> = targets
        .iter()
        .map(|t| series(t, dtype, max_ctx))
        .collect::<anyhow::Result<_>>()?;
    let y_max = all
        .iter()
        .flatten()
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.05;
    let root = BitMapBackend::new(path, (1100, 700)).into_drawing_area();
    let err = |e: String| anyhow!("drawing {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20);
    if fonts {
        builder
            .caption(
                format!("KV cache of one sequence ({})", dtype.name()),
                ("sans-serif", 26),
            )
            .x_label_area_size(50)
            .y_label_area_size(80);
    }
    let mut chart = builder
        .build_cartesian_2d(0f64..max_ctx as f64, 0f64..y_max)
        .map_err(|e| err(e.to_string()))?;
    let mut mesh = chart.configure_mesh();
    if fonts {
        mesh.x_desc("context length (tokens; thin = beyond the model's context_len)")
            .y_desc("GiB")
            .x_label_formatter(&|x| format!("{}k", (*x / 1024.0).round()))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .label_style(("sans-serif", 16));
    } else {
        mesh.disable_x_mesh()
            .disable_y_mesh()
            .x_labels(0)
            .y_labels(0);
    }
    mesh.draw().map_err(|e| err(e.to_string()))?;
    for (i, (t, pts)) in targets.iter().zip(all).enumerate() {
        let color = Palette99::pick(i).to_rgba();
        // Solid within the model's context length, thin beyond it (extrapolated).
        let ctx = t.config.context_len as f64;
        let beyond: Vec<(f64, f64)> = pts.iter().copied().filter(|p| p.0 >= ctx).collect();
        chart
            .draw_series(LineSeries::new(beyond, color.stroke_width(1)))
            .map_err(|e| err(e.to_string()))?;
        let within = pts.iter().copied().filter(|p| p.0 <= ctx);
        let s = chart
            .draw_series(LineSeries::new(within, color.stroke_width(3)))
            .map_err(|e| err(e.to_string()))?;
        if fonts {
            let name = t.name.clone();
            s.label(name).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
        }
    }
    if fonts {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 16))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| err(e.to_string()))?;
    }
    root.present()
        .map_err(|e| err(e.to_string()))
        .context("writing the PNG")?;
    Ok(())
}
