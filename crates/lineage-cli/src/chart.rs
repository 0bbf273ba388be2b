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
    let pts = || c.series.iter().flat_map(|s| s.points.iter());
    let finite = |v: f64| v.is_finite();
    let x_max = pts()
        .map(|p| p.0)
        .filter(|v| finite(*v))
        .fold(1.0, f64::max);
    let y = span(pts().map(|p| p.1).chain(c.hline.iter().map(|h| h.1)));
    let root = BitMapBackend::new(path, (1100, 700)).into_drawing_area();
    let descs = (c.x_desc, c.y_desc);
    let (mut chart, fonts) = frame(&root, path, c.title, descs, (0.0, x_max), y, false)?;
    for s in &c.series {
        let color = Palette99::pick(s.color).to_rgba();
        let line = s
            .points
            .iter()
            .copied()
            .filter(|p| finite(p.0) && finite(p.1));
        let drawn = chart
            .draw_series(LineSeries::new(line, color.stroke_width(s.width)))
            .map_err(|e| err(path, e))?;
        if fonts {
            let w = s.width;
            drawn.label(s.name.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(w))
            });
        }
    }
    if let Some((name, y)) = &c.hline {
        let drawn = chart
            .draw_series(LineSeries::new(
                vec![(0.0, *y), (x_max, *y)],
                BLACK.stroke_width(1),
            ))
            .map_err(|e| err(path, e))?;
        if fonts {
            drawn
                .label(name.clone())
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
        }
    }
    legend(&mut chart, path, fonts)?;
    root.present()
        .map_err(|e| err(path, e))
        .context("writing the PNG")?;
    Ok(())
}

/// A curve with a shaded band: `(x, y, lo, hi)`; points with non-finite ends get no band.
pub struct Band {
    pub name: String,
    pub points: Vec<(f64, f64, f64, f64)>,
    pub color: usize,
}

/// Curves with bands; `log_x` draws x on a log2 axis (labels in x's own units).
pub struct BandChart<'a> {
    pub title: &'a str,
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub series: Vec<Band>,
    pub log_x: bool,
}

/// One labelled value with its interval (bars and scatter points).
pub struct Mark {
    pub label: String,
    pub x: f64,
    pub y: f64,
    pub lo: f64,
    pub hi: f64,
    pub color: usize,
}

/// Horizontal bars (`Mark::y` is the value; `x` unused) with interval whiskers and
/// labels; bars start at 0 when `from_zero`, else at the axis minimum.
pub struct BarChart<'a> {
    pub title: &'a str,
    pub value_desc: &'a str,
    pub bars: Vec<Mark>,
    pub from_zero: bool,
    pub reference: Option<(String, f64)>,
}

type Area<'b> = DrawingArea<BitMapBackend<'b>, plotters::coord::Shift>;
type Ctx<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn err(path: &Path, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing {}: {e}", path.display())
}

/// Finite `(min, max)` of `xs` padded by 5%, or `(0, 1)`.
fn span(xs: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = xs
        .filter(|v| v.is_finite())
        .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    if lo > hi {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-6 * hi.abs().max(1.0));
    (lo - pad, hi + pad)
}

/// The frame (caption, axes, mesh) over `x` by `y`.
/// Also says whether a font was found (no text is drawn without one).
fn frame<'a, 'b>(
    root: &'a Area<'b>,
    path: &Path,
    title: &str,
    descs: (&str, &str),
    x: (f64, f64),
    y: (f64, f64),
    log_x: bool,
) -> anyhow::Result<(Ctx<'a, 'b>, bool)> {
    let fonts = crate::inspect::plot::load_font();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let mut builder = ChartBuilder::on(root);
    builder.margin(20);
    if fonts {
        builder
            .caption(title, ("sans-serif", 24))
            .x_label_area_size(50)
            .y_label_area_size(70);
    }
    let mut chart = builder
        .build_cartesian_2d(x.0..x.1, y.0..y.1)
        .map_err(|e| err(path, e))?;
    let pow2 = |v: &f64| format!("{:.0}", v.exp2());
    let mut mesh = chart.configure_mesh();
    if fonts {
        mesh.x_desc(descs.0)
            .y_desc(descs.1)
            .label_style(("sans-serif", 16));
        if log_x {
            mesh.x_label_formatter(&pow2);
        }
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|e| err(path, e))?;
    Ok((chart, fonts))
}

fn legend<'a, 'b: 'a>(chart: &mut Ctx<'a, 'b>, path: &Path, fonts: bool) -> anyhow::Result<()> {
    if !fonts {
        return Ok(());
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| err(path, e))
}

/// Draws `c` to `path` (1100 x 700).
pub fn draw_bands(path: &Path, c: &BandChart) -> anyhow::Result<()> {
    let fx = |x: f64| if c.log_x { x.log2() } else { x };
    let pts = || c.series.iter().flat_map(|s| s.points.iter());
    let x = span(pts().map(|p| fx(p.0)));
    let y = span(pts().flat_map(|p| [p.1, p.2, p.3]));
    let root = BitMapBackend::new(path, (1100, 700)).into_drawing_area();
    let (mut chart, fonts) = frame(&root, path, c.title, (c.x_desc, c.y_desc), x, y, c.log_x)?;
    let ok = |v: f64| v.is_finite();
    for s in &c.series {
        let color = Palette99::pick(s.color).to_rgba();
        let band: Vec<_> = s
            .points
            .iter()
            .filter(|p| ok(fx(p.0)) && ok(p.2) && ok(p.3))
            .collect();
        if band.len() >= 2 {
            let mut poly: Vec<(f64, f64)> = band.iter().map(|p| (fx(p.0), p.3)).collect();
            poly.extend(band.iter().rev().map(|p| (fx(p.0), p.2)));
            chart
                .draw_series(std::iter::once(Polygon::new(poly, color.mix(0.2).filled())))
                .map_err(|e| err(path, e))?;
        }
        let line = s
            .points
            .iter()
            .map(|p| (fx(p.0), p.1))
            .filter(|p| ok(p.0) && ok(p.1));
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))
            .map_err(|e| err(path, e))?
            .label(s.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    legend(&mut chart, path, fonts)?;
    root.present()
        .map_err(|e| err(path, e))
        .context("writing the PNG")
}

/// Draws labelled points with vertical whiskers (`log_x` as in `BandChart`).
pub fn draw_marks(
    path: &Path,
    title: &str,
    descs: (&str, &str),
    marks: &[Mark],
    log_x: bool,
) -> anyhow::Result<()> {
    let fx = |x: f64| if log_x { x.log2() } else { x };
    let x = span(marks.iter().map(|m| fx(m.x)));
    let x = (x.0, x.1 + 0.15 * (x.1 - x.0));
    let y = span(marks.iter().flat_map(|m| [m.y, m.lo, m.hi]));
    let root = BitMapBackend::new(path, (1100, 700)).into_drawing_area();
    let (mut chart, fonts) = frame(&root, path, title, descs, x, y, log_x)?;
    for m in marks
        .iter()
        .filter(|m| fx(m.x).is_finite() && m.y.is_finite())
    {
        let color = Palette99::pick(m.color).to_rgba();
        let p = (fx(m.x), m.y);
        let mut shapes = vec![Circle::new(p, 5, color.filled()).into_dyn()];
        if m.lo.is_finite() && m.hi.is_finite() {
            shapes.push(
                PathElement::new(vec![(p.0, m.lo), (p.0, m.hi)], color.stroke_width(2)).into_dyn(),
            );
        }
        if fonts {
            shapes.push(Text::new(format!("  {}", m.label), p, ("sans-serif", 14)).into_dyn());
        }
        chart.draw_series(shapes).map_err(|e| err(path, e))?;
    }
    root.present()
        .map_err(|e| err(path, e))
        .context("writing the PNG")
}

/// Draws `c` to `path` (1100 wide, 34 px per bar).
pub fn draw_bars(path: &Path, c: &BarChart) -> anyhow::Result<()> {
    let n = c.bars.len().max(1);
    let vals = c
        .bars
        .iter()
        .flat_map(|b| [b.y, b.lo, b.hi])
        .chain(c.reference.iter().map(|r| r.1));
    let (lo, hi) = span(vals.chain(c.from_zero.then_some(0.0)));
    let lo = if c.from_zero { 0.0 } else { lo };
    // Room on the right for the labels.
    let x = (lo, hi + 0.45 * (hi - lo));
    let y = (-0.7, n as f64 - 0.3);
    let root = BitMapBackend::new(path, (1100, (34 * n as u32 + 160).max(400))).into_drawing_area();
    let (mut chart, fonts) = frame(&root, path, c.title, (c.value_desc, ""), x, y, false)?;
    for (i, b) in c.bars.iter().enumerate() {
        let color = Palette99::pick(b.color).to_rgba();
        let yi = (n - 1 - i) as f64;
        let mut shapes = Vec::new();
        if b.y.is_finite() {
            shapes.push(
                Rectangle::new(
                    [(x.0, yi - 0.35), (b.y, yi + 0.35)],
                    color.mix(0.7).filled(),
                )
                .into_dyn(),
            );
        }
        if b.lo.is_finite() && b.hi.is_finite() {
            for seg in [
                [(b.lo, yi), (b.hi, yi)],
                [(b.lo, yi - 0.15), (b.lo, yi + 0.15)],
                [(b.hi, yi - 0.15), (b.hi, yi + 0.15)],
            ] {
                shapes.push(PathElement::new(seg.to_vec(), BLACK.stroke_width(2)).into_dyn());
            }
        }
        let end = [b.hi, b.y, x.0]
            .into_iter()
            .find(|v| v.is_finite())
            .unwrap_or(x.0);
        if fonts {
            shapes.push(
                Text::new(
                    format!("  {}", b.label),
                    (end, yi + 0.2),
                    ("sans-serif", 14),
                )
                .into_dyn(),
            );
        }
        chart.draw_series(shapes).map_err(|e| err(path, e))?;
    }
    if let Some((name, v)) = &c.reference {
        chart
            .draw_series(LineSeries::new(
                vec![(*v, y.0), (*v, y.1)],
                BLACK.stroke_width(1),
            ))
            .map_err(|e| err(path, e))?
            .label(name.clone())
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
        legend(&mut chart, path, fonts)?;
    }
    root.present()
        .map_err(|e| err(path, e))
        .context("writing the PNG")
}
