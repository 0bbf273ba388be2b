//! Line charts as PNG (plotters' bitmap backend): loss curves of runs and studies.
//! Text needs a TTF font found at run time (see `inspect::plot::load_font`).

use std::path::Path;

use anyhow::{anyhow, Context};
use plotters::prelude::*;

/// One named curve.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Palette index: series that belong together share a colour.
    pub color: usize,
    pub width: u32,
}

/// A chart: title, axis names and curves; `hline` draws a labelled horizontal line.
pub struct Chart<'a> {
    pub title: &'a str,
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub series: Vec<Series>,
    pub hline: Option<(String, f64)>,
}

/// Draws `c` to `path` (1100 x 700).
pub fn draw(path: &Path, c: &Chart) -> anyhow::Result<()> {
    let fonts = crate::inspect::plot::load_font();
    let pts = || c.series.iter().flat_map(|s| s.points.iter());
    let finite = |v: f64| v.is_finite();
    let x_max = pts().map(|p| p.0).filter(|v| finite(*v)).fold(1.0, f64::max);
    let ys = pts().map(|p| p.1).chain(c.hline.iter().map(|h| h.1)).filter(|v| finite(*v));
    let (y_min, y_max) = ys.fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let (y_min, y_max) = if y_min > y_max { (0.0, 1.0) } else { (y_min, y_max) };
    let pad = ((y_max - y_min) * 0.05).max(1e-6);
    let err = |e: String| anyhow!("drawing {}: {e}", path.display());
    let root = BitMapBackend::new(path, (1100, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20);
    if fonts {
        builder.caption(c.title, ("sans-serif", 24)).x_label_area_size(50).y_label_area_size(70);
    }
    let mut chart = builder
        .build_cartesian_2d(0f64..x_max, (y_min - pad)..(y_max + pad))
        .map_err(|e| err(e.to_string()))?;
    let mut mesh = chart.configure_mesh();
    if fonts {
        mesh.x_desc(c.x_desc).y_desc(c.y_desc).label_style(("sans-serif", 16));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|e| err(e.to_string()))?;
    for s in &c.series {
        let color = Palette99::pick(s.color).to_rgba();
        let line = s.points.iter().copied().filter(|p| finite(p.0) && finite(p.1));
        let drawn = chart
            .draw_series(LineSeries::new(line, color.stroke_width(s.width)))
            .map_err(|e| err(e.to_string()))?;
        if fonts {
            let w = s.width;
            drawn.label(s.name.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(w))
            });
        }
    }
    if let Some((name, y)) = &c.hline {
        let drawn = chart
            .draw_series(LineSeries::new(vec![(0.0, *y), (x_max, *y)], BLACK.stroke_width(1)))
            .map_err(|e| err(e.to_string()))?;
        if fonts {
            drawn.label(name.clone()).legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
        }
    }
    if fonts {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| err(e.to_string()))?;
    }
    root.present().map_err(|e| err(e.to_string())).context("writing the PNG")?;
    Ok(())
}
