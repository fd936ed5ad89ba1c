//! The look shared by every chart: a title, panels side by side, a caption stating the
//! commands and commits behind the data, series drawn as lines with markers.

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::PlotError;
use crate::data::Source;

/// Width of every chart, pixels.
pub(crate) const WIDTH: u32 = 1000;
/// Height of the plotting part (title and panels), pixels.
const PLOT_HEIGHT: u32 = 520;
/// Height of one caption line, pixels.
const CAPTION_LINE: u32 = 17;
/// Caption characters per line before it wraps (the font is about 6.6 px per character).
const CAPTION_WIDTH: usize = 145;
/// A sans-serif family every browser has.
pub(crate) const FONT: &str = "sans-serif";

/// One panel of a figure, as plotters draws it.
pub(crate) type Panel<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// The series drawn on one chart, for the caller to check: label and number of points.
pub(crate) type Drawn = Vec<(String, usize)>;

/// A plotters failure, as text (its error types are generic over the backend).
pub(crate) type DrawResult<T> = Result<T, String>;

/// Turns any displayable failure into [`DrawResult`]'s text.
pub(crate) trait OrText<T> {
    /// The same result, the error as text.
    fn or_text(self) -> DrawResult<T>;
}

impl<T, E: std::fmt::Display> OrText<T> for Result<T, E> {
    fn or_text(self) -> DrawResult<T> {
        self.map_err(|error| error.to_string())
    }
}

/// Draws a figure of `panels` panels side by side under `title`, with `notes` and the
/// data's provenance in a caption below, and writes it to `path`.
pub(crate) fn figure(
    path: &Path,
    title: &str,
    notes: &[String],
    sources: &[&Source],
    panels: usize,
    draw: impl FnOnce(&[Panel<'_>]) -> DrawResult<()>,
) -> Result<(), PlotError> {
    let chart = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut caption = Vec::new();
    for note in notes {
        caption.extend(wrap(note, CAPTION_WIDTH));
    }
    caption.extend(provenance(sources));
    let caption_height = CAPTION_LINE * (caption.len() as u32 + 1);
    let mut svg = String::new();
    {
        let size = (WIDTH, PLOT_HEIGHT + caption_height);
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let drawn = (|| {
            root.fill(&WHITE).or_text()?;
            let (plot, below) = root.split_vertically(PLOT_HEIGHT);
            let plot = plot.titled(title, (FONT, 22)).or_text()?;
            let areas = plot.split_evenly((1, panels.max(1)));
            draw(&areas)?;
            let grey = BLACK.mix(0.8);
            let style = TextStyle::from((FONT, 13)).color(&grey);
            for (i, line) in caption.iter().enumerate() {
                let y = (CAPTION_LINE as usize * i) as i32 + 4;
                below.draw_text(line, &style, (12, y)).or_text()?;
            }
            root.present().or_text()
        })();
        drawn.map_err(|message| PlotError::Draw {
            chart: chart.clone(),
            message,
        })?;
    }
    std::fs::write(path, svg).map_err(|source| PlotError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// "Data: <command> (commit c)" lines, one per distinct commit, commands in file order.
fn provenance(sources: &[&Source]) -> Vec<String> {
    let mut commits: Vec<(&str, Vec<&str>)> = Vec::new();
    for source in sources {
        match commits.iter_mut().find(|(c, _)| *c == source.commit) {
            Some((_, commands)) => {
                if !commands.contains(&source.command.as_str()) {
                    commands.push(&source.command);
                }
            }
            None => commits.push((&source.commit, vec![&source.command])),
        }
    }
    let mut lines = Vec::new();
    for (commit, commands) in commits {
        // One command a line, so that none is split between lines where it fits.
        for (i, command) in commands.iter().enumerate() {
            let text = if i == 0 {
                format!("Data, commit {commit}: {command}")
            } else {
                format!("    and {command}")
            };
            lines.extend(wrap(&text, CAPTION_WIDTH));
        }
    }
    lines
}

/// Breaks `text` at spaces into lines of at most `width` characters (a longer word
/// stays whole); continuation lines are indented.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::replace(&mut line, "    ".to_owned()));
        }
        if !line.trim().is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.trim().is_empty() {
        lines.push(line);
    }
    lines
}

/// Series colours (colour-blind-safe, after Okabe and Ito).
pub(crate) const COLORS: [RGBColor; 6] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // green
    RGBColor(204, 121, 167), // purple
    RGBColor(230, 159, 0),   // orange
    RGBColor(86, 180, 233),  // sky blue
];

/// How a series' points are marked.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Marker {
    /// A filled circle.
    Circle,
    /// An open triangle.
    Triangle,
    /// A filled square.
    Square,
    /// No marker: a line only.
    None,
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Look {
    pub(crate) color: RGBColor,
    pub(crate) dashed: bool,
    pub(crate) marker: Marker,
}

impl Look {
    /// A solid line with `marker`.
    pub(crate) fn solid(color: RGBColor, marker: Marker) -> Self {
        Look {
            color,
            dashed: false,
            marker,
        }
    }

    /// A dashed line with `marker`.
    pub(crate) fn dashed(color: RGBColor, marker: Marker) -> Self {
        Look {
            color,
            dashed: true,
            marker,
        }
    }
}

/// Draws one labelled series of `points` (none drawn if there are none; the count in
/// `drawn` shows it) on `chart`, recording it in `drawn` as `prefix` + `label`.
pub(crate) fn series<'a, X>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, RangedCoordf64>>,
    drawn: &mut Drawn,
    prefix: &str,
    label: &str,
    points: &[(f64, f64)],
    look: Look,
) -> DrawResult<()>
where
    X: Ranged<ValueType = f64>,
{
    drawn.push((format!("{prefix}{label}"), points.len()));
    if points.is_empty() {
        return Ok(());
    }
    let line = ShapeStyle::from(&look.color).stroke_width(2);
    let annotation = if look.dashed {
        chart
            .draw_series(DashedLineSeries::new(points.iter().copied(), 8, 5, line))
            .or_text()?
    } else {
        chart
            .draw_series(LineSeries::new(points.iter().copied(), line))
            .or_text()?
    };
    annotation.label(label);
    let sample = legend_line(look);
    let line_style = line;
    match look.marker {
        Marker::Circle => {
            annotation.legend(move |p| sample(p) + Circle::new((11, 0), 4, line_style.filled()));
        }
        Marker::Triangle => {
            annotation.legend(move |p| sample(p) + TriangleMarker::new((11, 0), 6, line_style));
        }
        Marker::Square => {
            annotation.legend(move |p| {
                sample(p) + Rectangle::new([(7, -4), (15, 4)], line_style.filled())
            });
        }
        Marker::None => {
            annotation.legend(sample);
        }
    }
    match look.marker {
        Marker::Circle => {
            let style = line.filled();
            chart
                .draw_series(points.iter().map(|p| Circle::new(*p, 4, style)))
                .or_text()?;
        }
        Marker::Triangle => {
            chart
                .draw_series(points.iter().map(|p| TriangleMarker::new(*p, 6, line)))
                .or_text()?;
        }
        Marker::Square => {
            let style = line.filled();
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|p| EmptyElement::at(*p) + Rectangle::new([(-4, -4), (4, 4)], style)),
                )
                .or_text()?;
        }
        Marker::None => {}
    }
    Ok(())
}

/// A legend's line: two segments.
type LegendLine<DB> = plotters::element::ComposedElement<
    (i32, i32),
    DB,
    PathElement<(i32, i32)>,
    PathElement<(i32, i32)>,
>;

/// The legend's sample of a series: a short line, dashed or not (two segments, with or
/// without a gap), relative to the legend entry's position.
fn legend_line<DB: DrawingBackend>(look: Look) -> impl Fn((i32, i32)) -> LegendLine<DB> {
    move |(x, y)| {
        let line = ShapeStyle::from(&look.color).stroke_width(2);
        let gap = if look.dashed { 6 } else { 0 };
        EmptyElement::at((x, y))
            + PathElement::new(vec![(0, 0), (11 - gap / 2, 0)], line)
            + PathElement::new(vec![(11 + gap / 2, 0), (22, 0)], line)
    }
}

/// Tick label for a count: thousands separated by commas.
pub(crate) fn count_label(value: &f64) -> String {
    let rounded = value.round();
    if (value - rounded).abs() > 1e-9 || rounded < 0.0 {
        return format!("{value}");
    }
    let digits = format!("{rounded:.0}");
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The legend box's look: white behind, a thin frame.
pub(crate) fn legend_box<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> DrawResult<()>
where
    X: Ranged,
    Y: Ranged,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.5))
        .label_font((FONT, 14))
        .draw()
        .or_text()
}

/// Lowest and highest of `values`, widened by `margin` of the span on each side (and to
/// a span of at least 1 if all are equal); (0, 1) if there are none.
pub(crate) fn span(values: impl IntoIterator<Item = f64>, margin: f64) -> (f64, f64) {
    let mut low = f64::INFINITY;
    let mut high = f64::NEG_INFINITY;
    for value in values {
        low = low.min(value);
        high = high.max(value);
    }
    if !low.is_finite() || !high.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((high - low) * margin).max(if high > low { 0.0 } else { 0.5 });
    (low - pad, high + pad)
}

/// An x range for N on a log axis: a little beyond the lowest and highest N.
pub(crate) fn log_span(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let (low, high) = span(values, 0.0);
    (low.max(1.0) / 1.3, high.max(1.0) * 1.3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(count_label(&1000.0), "1,000");
        assert_eq!(count_label(&100.0), "100");
        assert_eq!(count_label(&1234567.0), "1,234,567");
        assert_eq!(count_label(&2.5), "2.5");
    }

    #[test]
    fn captions_wrap_at_spaces() {
        let lines = wrap("aaa bbb ccc", 7);
        assert_eq!(lines, vec!["aaa bbb".to_owned(), "    ccc".to_owned()]);
    }
}
