//! `--report`: the latency-over-time and latency-distribution charts, drawn by plotters'
//! SVG backend. An `.svg` path gets both charts stacked in one SVG; any other path gets an
//! HTML page with the figures and the two charts inline.

use std::error::Error;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Report, write_file};
use crate::error::BenchError;
use crate::stats::SecondPoint;

const WIDTH: u32 = 900;
const HEIGHT: u32 = 420;
/// The distribution's x axis is `1 / (1 - quantile)`: 10 is p90, 1000 is p99.9; it ends
/// by this at the latest.
const NINES_LIMIT: f64 = 1e6;

type Drawn = Result<(), Box<dyn Error>>;
/// Reads one series' value from a second of the timeline.
type Pick = fn(&SecondPoint) -> f64;

pub fn write_charts(path: &Path, report: &Report) -> Result<(), BenchError> {
    let svg = path.extension().is_some_and(|extension| extension.eq_ignore_ascii_case("svg"));
    let contents = if svg {
        render((WIDTH, 2 * HEIGHT), |root| {
            let (upper, lower) = root.split_vertically(HEIGHT);
            draw_timeline(&upper, report)?;
            draw_distribution(&lower, report)
        })?
    } else {
        let timeline = render((WIDTH, HEIGHT), |root| draw_timeline(root, report))?;
        let distribution = render((WIDTH, HEIGHT), |root| draw_distribution(root, report))?;
        html(report, &timeline, &distribution)
    };
    write_file(path, contents)
}

fn render(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Drawn,
) -> Result<String, BenchError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let drawn = root.fill(&WHITE).map_err(Box::from).and_then(|()| draw(&root));
        drawn.and_then(|()| root.present().map_err(Box::from)).map_err(|error| BenchError::Chart(error.to_string()))?;
    }
    Ok(svg)
}

fn draw_timeline(area: &DrawingArea<SVGBackend<'_>, Shift>, report: &Report) -> Drawn {
    let points = &report.timeline;
    let seconds = points.last().map_or(1, |point| point.second + 1) as f64;
    let highest = points.iter().map(|point| point.max_ms).fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{}: latency per second ({}s)", report.scenario, report.headline_role), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..seconds, 0f64..(highest * 1.1).max(0.001))?;
    chart.configure_mesh().x_desc("second of the measured phase").y_desc("latency (ms)").draw()?;
    let series: [(&str, RGBColor, Pick); 3] = [
        ("p50", BLUE, |point| point.p50_ms),
        ("p99", RGBColor(230, 120, 0), |point| point.p99_ms),
        ("max", RED, |point| point.max_ms),
    ];
    for (name, color, value) in series {
        let line = points.iter().map(|point| (point.second as f64 + 0.5, value(point)));
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        let marks =
            points.iter().map(|point| Circle::new((point.second as f64 + 0.5, value(point)), 3, color.filled()));
        chart.draw_series(marks)?;
    }
    chart.configure_series_labels().position(SeriesLabelPosition::UpperLeft).border_style(BLACK).draw()?;
    Ok(())
}

fn draw_distribution(area: &DrawingArea<SVGBackend<'_>, Shift>, report: &Report) -> Drawn {
    let nines = |percentile: f64| 1.0 / (1.0 - percentile / 100.0);
    let distribution = &report.latency_distribution;
    let deepest = distribution.iter().map(|&(p, _)| nines(p)).filter(|x| x.is_finite()).fold(1.0, f64::max);
    // p100 (the max) sits one decade past the deepest finite percentile.
    let tail = (deepest * 10.0).min(NINES_LIMIT);
    let points: Vec<(f64, f64)> =
        distribution.iter().map(|&(percentile, latency)| (nines(percentile).min(tail), latency)).collect();
    let highest = points.iter().map(|point| point.1).fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{}: latency by percentile ({}s)", report.scenario, report.headline_role), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d((1f64..tail).log_scale(), 0f64..(highest * 1.1).max(0.001))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_label_formatter(&|x| format!("{}%", percentile_label(*x)))
        .draw()?;
    chart.draw_series(LineSeries::new(points.iter().copied(), BLUE.stroke_width(2)))?;
    Ok(())
}

/// `1 / (1 - q)` back to a percentile label: 10 → "90", 1000 → "99.9".
fn percentile_label(nines: f64) -> String {
    let percentile = 100.0 * (1.0 - 1.0 / nines.max(1.0));
    let digits = (nines.log10().round() as usize).saturating_sub(2);
    format!("{percentile:.digits$}")
}

fn html(report: &Report, timeline: &str, distribution: &str) -> String {
    let mut rows = String::new();
    for (role, figures) in &report.roles {
        let latency = &figures.latency_ms;
        rows += &format!(
            "<tr><td>{role}</td><td>{:.2}</td><td>{:.0}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td>\
             <td>{:.3}</td><td>{:.3}</td><td>{:.3}</td></tr>\n",
            figures.throughput_mb_s,
            figures.messages_per_s,
            figures.messages_total,
            latency.p50,
            latency.p90,
            latency.p99,
            latency.p999,
            latency.p9999,
            latency.max,
        );
    }
    let machine = &report.machine;
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>whippet-bench {scenario}</title>\n\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}</style></head><body>\n\
         <h1>whippet-bench: {scenario}</h1>\n<p>{description}</p>\n<p>{started}; {host}, {cpu}, {cores} cores, \
         {memory:.1} GiB, Linux {kernel}</p>\n<table><tr><th>role</th><th>MB/s</th><th>messages/s</th>\
         <th>messages</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>p99.99 ms</th>\
         <th>max ms</th></tr>\n{rows}</table>\n<div>{timeline}</div>\n<div>{distribution}</div>\n</body></html>\n",
        scenario = report.scenario,
        description = escape(&report.description),
        started = escape(&report.started_at),
        host = escape(&machine.hostname),
        cpu = escape(&machine.cpu_model),
        cores = machine.cores,
        memory = machine.memory_bytes as f64 / f64::from(1u32 << 30),
        kernel = escape(&machine.kernel),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_labels() {
        assert_eq!(percentile_label(1.0), "0");
        assert_eq!(percentile_label(10.0), "90");
        assert_eq!(percentile_label(100.0), "99");
        assert_eq!(percentile_label(1000.0), "99.9");
        assert_eq!(percentile_label(10000.0), "99.99");
    }
}
