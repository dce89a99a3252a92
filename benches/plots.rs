//! Draws the benchmarks' three plots, as SVG, from the CSV files the
//! benchmarks write with `--csv=DIR`. Not a measurement: it reads files and
//! writes files, and draws the same SVG from the same CSV every time.
//!
//! `cargo bench --bench plots -- [--csv=DIR] [--out=DIR] [--note=TEXT]`, by
//! default from `benches/results/` into `benches/plots/`; `--note` adds a
//! line in red under each title, to mark plots drawn from a trial run:
//!
//! - `fanout-all-notified.svg`: the time until every subscriber has a
//!   change, p50 with a band up to p99, against the number of subscribers,
//!   net-watcher beside the book's Node server (`fanout.csv`);
//! - `fanout-memory.svg`: resident memory per idle subscriber against the
//!   number of subscribers, both servers (`fanout.csv`);
//! - `latency.svg`: one subscriber's latency per kind of change, for
//!   net-watcher's two modes and Node, with changes that were never
//!   notified shown as missed (`latency.csv`).
//!
//! Each plot says which machine, date and arguments its figures come from.
//! Text is SVG `<text>` in the generic `sans-serif` family, so a browser or
//! a Git host draws it with whatever fonts it has; no font is needed here.
//! See BENCHMARKS.md.

mod common;

use std::path::{Path, PathBuf};

use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::element::ComposedElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use common::results::{FanOutRow, LatencyRow, csv_dir, read};

/// Every plot's size in pixels: wide enough for a legend beside the lines,
/// and scaled down, still legible, to a Git host's page width.
const SIZE: (u32, u32) = (960, 580);

/// Text and axes: near-black, for a light background.
const INK: RGBColor = RGBColor(34, 34, 34);
/// The subtitle and the notes: a grey that still reads on white.
const QUIET: RGBColor = RGBColor(90, 90, 90);
/// The `--note` line.
const WARNING: RGBColor = RGBColor(180, 30, 30);
const GRID: RGBColor = RGBColor(215, 215, 215);
const GRID_LIGHT: RGBColor = RGBColor(242, 242, 242);

/// The shape of a server's points.
#[derive(Clone, Copy)]
enum Marker {
    Circle,
    Square,
    Triangle,
}

/// A server's colour and marker, the same in every plot. The colours are
/// from Okabe and Ito's palette, which stays distinct for the common kinds
/// of colour blindness; the markers tell the servers apart without colour.
fn server_style(key: &str) -> (RGBColor, Marker) {
    match key {
        // Blue: net-watcher as it runs by default.
        "net-watcher" => (RGBColor(0, 114, 178), Marker::Square),
        // Bluish green: net-watcher with --debounce-ms 0.
        "net-watcher-debounce-0" => (RGBColor(0, 158, 115), Marker::Circle),
        // Vermilion: the book's Node server.
        _ => (RGBColor(213, 94, 0), Marker::Triangle),
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let input = csv_dir().unwrap_or_else(|| root.join("benches/results"));
    let output: PathBuf = std::env::args()
        .find_map(|arg| arg.strip_prefix("--out=").map(PathBuf::from))
        .unwrap_or_else(|| root.join("benches/plots"));
    std::fs::create_dir_all(&output)
        .unwrap_or_else(|error| panic!("cannot make {}: {error}", output.display()));

    let mut failed = false;
    match read::<FanOutRow>(&input.join("fanout.csv")) {
        Ok(rows) if !rows.is_empty() => {
            draw(&output.join("fanout-all-notified.svg"), |area| {
                all_notified(area, &rows)
            });
            draw(&output.join("fanout-memory.svg"), |area| {
                memory(area, &rows)
            });
        }
        Ok(_) => {
            eprintln!("fanout.csv has no rows");
            failed = true;
        }
        Err(error) => {
            eprintln!("{error}\n  (written by: cargo bench --bench fanout -- --csv=DIR)");
            failed = true;
        }
    }
    match read::<LatencyRow>(&input.join("latency.csv")) {
        Ok(rows) if !rows.is_empty() => {
            draw(&output.join("latency.svg"), |area| latency(area, &rows))
        }
        Ok(_) => {
            eprintln!("latency.csv has no rows");
            failed = true;
        }
        Err(error) => {
            eprintln!("{error}\n  (written by: cargo bench --bench latency -- --csv=DIR)");
            failed = true;
        }
    }
    if failed {
        std::process::exit(1);
    }
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Drawn = Result<(), Box<dyn std::error::Error>>;

/// Draws one plot on a white canvas and writes it to `path`.
fn draw(path: &Path, plot: impl FnOnce(&Area) -> Drawn) {
    let area = SVGBackend::new(path, SIZE).into_drawing_area();
    // An opaque white background, so the plot reads the same on a Git
    // host's dark theme as on a light page.
    area.fill(&WHITE).unwrap();
    plot(&area).unwrap_or_else(|error| panic!("drawing {}: {error}", path.display()));
    area.present()
        .unwrap_or_else(|error| panic!("writing {}: {error}", path.display()));
    eprintln!("wrote {}", path.display());
}

fn font(size: u32, color: &RGBColor) -> TextStyle<'_> {
    ("sans-serif", size).into_font().color(color)
}

/// The title, and under it the `--note` if any, where the figures come
/// from and how to read them; returns the area left for the chart.
fn header<'a>(
    area: &Area<'a>,
    title: &str,
    lines: &[String],
) -> Result<Area<'a>, Box<dyn std::error::Error>> {
    let note = std::env::args().find_map(|arg| arg.strip_prefix("--note=").map(str::to_owned));
    area.draw_text(
        title,
        &("sans-serif", 26)
            .into_font()
            .style(FontStyle::Bold)
            .color(&INK),
        (24, 16),
    )?;
    let mut y = 50;
    if let Some(note) = &note {
        area.draw_text(note, &font(16, &WARNING), (24, y))?;
        y += 19;
    }
    for line in lines {
        area.draw_text(line, &font(16, &QUIET), (24, y))?;
        y += 19;
    }
    let top = y + 10;
    Ok(area.margin(top, 10, 10, 28))
}

/// Where the figures come from: the date, the machine, and the command.
fn provenance(date: &str, machine: &str, bench: &str, arguments: &str) -> String {
    let command = if arguments == "default" {
        format!("cargo bench --bench {bench}")
    } else {
        format!("cargo bench --bench {bench} -- {arguments}")
    };
    format!("Measured {date} on {machine}: {command}")
}

/// The rows of each server, in the order the file first names them:
/// (key, label, rows).
fn by_server<'r, T>(
    rows: &'r [T],
    server: impl Fn(&'r T) -> (&'r str, &'r str),
) -> Vec<(&'r str, &'r str, Vec<&'r T>)> {
    let mut servers: Vec<(&str, &str, Vec<&T>)> = Vec::new();
    for row in rows {
        let (key, label) = server(row);
        match servers.iter_mut().find(|(known, _, _)| *known == key) {
            Some((_, _, list)) => list.push(row),
            None => servers.push((key, label, vec![row])),
        }
    }
    servers
}

/// `10000` → `10,000`.
fn thousands(value: f64) -> String {
    let digits = format!("{value:.0}");
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Milliseconds, to two significant figures or to the unit.
fn milliseconds(value: f64) -> String {
    if value >= 10.0 {
        format!("{value:.0}")
    } else if value >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// An axis label in milliseconds: `0.1`, `1`, `100`.
fn axis_milliseconds(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The power of ten at or below `value`.
fn decade_below(value: f64) -> f64 {
    10f64.powf(value.log10().floor())
}

/// A marker's outline in pixels around its point. Every marker is a
/// polygon, so that all three are one type: plotters' legend wants one
/// concrete element type per series.
fn outline(shape: Marker) -> Vec<(i32, i32)> {
    match shape {
        Marker::Circle => (0..24)
            .map(|step| {
                let angle = f64::from(step) * std::f64::consts::TAU / 24.0;
                (
                    (5.5 * angle.cos()).round() as i32,
                    (5.5 * angle.sin()).round() as i32,
                )
            })
            .collect(),
        Marker::Square => vec![(-5, -5), (5, -5), (5, 5), (-5, 5)],
        Marker::Triangle => vec![(0, -7), (7, 5), (-7, 5)],
    }
}

/// The look every plot's grid and axes share: thin grey lines, near-black
/// axes and labels, and no more than four light lines between two bold
/// ones.
fn house_style<'m, 'a, 'b, X: Ranged, Y: Ranged>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, SVGBackend<'a>>,
) -> &'m mut MeshStyle<'a, 'b, X, Y, SVGBackend<'a>> {
    mesh.max_light_lines(4)
        .bold_line_style(GRID)
        .light_line_style(GRID_LIGHT)
        .axis_style(INK)
        .axis_desc_style(font(18, &INK))
        .label_style(font(16, &INK))
}

/// Draws the legend of every labelled series, on a white box at `position`.
fn legend<'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, CT>,
    position: SeriesLabelPosition,
) -> Drawn {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.92))
        .border_style(GRID)
        .label_font(font(15, &INK))
        .draw()?;
    Ok(())
}

/// A server's marker, in pixels around (0, 0): place it with
/// `EmptyElement::at(point) + marker(style)`.
fn marker((color, shape): (RGBColor, Marker)) -> Polygon<(i32, i32)> {
    Polygon::new(outline(shape), color.filled())
}

/// A short line through a marker, in pixels.
type LegendMark<DB> = ComposedElement<(i32, i32), DB, PathElement<(i32, i32)>, Polygon<(i32, i32)>>;

/// A legend entry: a short line through the server's marker.
fn line_and_marker<DB: DrawingBackend>(
    at: (i32, i32),
    (color, shape): (RGBColor, Marker),
) -> LegendMark<DB> {
    EmptyElement::at(at)
        + PathElement::new(vec![(0, 0), (24, 0)], color.stroke_width(3))
        + Polygon::new(
            outline(shape)
                .into_iter()
                .map(|(x, y)| (x + 12, y))
                .collect::<Vec<_>>(),
            color.filled(),
        )
}

/// Plot 1: the time until every subscriber has the change.
fn all_notified(area: &Area, rows: &[FanOutRow]) -> Drawn {
    let first = &rows[0];
    let servers = by_server(rows, |row| (&row.server, &row.server_label));
    let fewest = rows.iter().map(|row| row.changes).min().unwrap_or(0);
    let most = rows.iter().map(|row| row.changes).max().unwrap_or(0);
    let changes = if fewest == most {
        format!("{most}")
    } else {
        format!("{fewest} to {most}")
    };
    let area = header(
        area,
        "Time until every subscriber has the change",
        &[
            provenance(&first.date, &first.machine, "fanout", &first.arguments),
            format!(
                "One change to the watched file, {changes} times per size; readers {}. Line: median (p50);",
                first.harness
            ),
            "band: up to p99, about the slowest change at each size.".to_owned(),
        ],
    )?;
    let ms = |us: f64| us / 1000.0;
    let (low_x, high_x) = rows.iter().fold((f64::MAX, 0f64), |(low, high), row| {
        let size = row.subscribers as f64;
        (low.min(size), high.max(size))
    });
    let (low_y, high_y) = rows.iter().fold((f64::MAX, 0f64), |(low, high), row| {
        (
            low.min(ms(row.all_notified_p50_us)),
            high.max(ms(row.all_notified_p99_us)),
        )
    });
    // Room below the lowest line for the ratios, and above for the legend.
    let y_range = (low_y / 8.0)..(high_y * 4.0);
    let mut chart = ChartBuilder::on(&area)
        .x_label_area_size(56)
        .y_label_area_size(72)
        .build_cartesian_2d(
            ((low_x / 1.6)..(high_x * 1.6)).log_scale(),
            y_range.clone().log_scale(),
        )?;
    house_style(&mut chart.configure_mesh())
        // Few enough labels that a log axis shows only powers of ten.
        .x_labels(5)
        .y_labels(6)
        .x_desc("subscribers (log scale)")
        .y_desc("every subscriber notified, ms (log scale)")
        .x_label_formatter(&|x| thousands(*x))
        .y_label_formatter(&|y| axis_milliseconds(*y))
        .draw()?;
    for (key, label, rows) in &servers {
        let style = server_style(key);
        let color = style.0;
        let p50: Vec<(f64, f64)> = rows
            .iter()
            .map(|row| (row.subscribers as f64, ms(row.all_notified_p50_us)))
            .collect();
        let p99: Vec<(f64, f64)> = rows
            .iter()
            .map(|row| (row.subscribers as f64, ms(row.all_notified_p99_us)))
            .collect();
        let band: Vec<(f64, f64)> = p99.iter().chain(p50.iter().rev()).copied().collect();
        chart
            .draw_series(std::iter::once(Polygon::new(
                band,
                color.mix(0.16).filled(),
            )))?
            .label(format!("{label}: up to p99"))
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 24, y + 6)], color.mix(0.16).filled())
            });
        chart.draw_series(LineSeries::new(
            p99.clone(),
            color.mix(0.45).stroke_width(1),
        ))?;
        chart
            .draw_series(LineSeries::new(p50.clone(), color.stroke_width(3)))?
            .label(format!("{label}: median"))
            .legend(move |at| line_and_marker(at, style));
        chart.draw_series(p50.iter().map(|&at| EmptyElement::at(at) + marker(style)))?;
        // Each median, written beside its point: Node's above, ours below,
        // as Node's line runs above.
        let dy = if *key == "node" { -16 } else { 16 };
        chart.draw_series(p50.iter().map(|&(x, y)| {
            EmptyElement::at((x, y))
                + Text::new(
                    milliseconds(y),
                    (0, dy),
                    font(14, &color).pos(Pos::new(HPos::Center, VPos::Center)),
                )
        }))?;
    }
    // net-watcher's median over Node's, at each size both have.
    if let (Some(ours), Some(node)) = (
        servers.iter().find(|(key, _, _)| *key != "node"),
        servers.iter().find(|(key, _, _)| *key == "node"),
    ) {
        let ratios: Vec<(f64, f64)> = ours
            .2
            .iter()
            .filter_map(|row| {
                let theirs = node
                    .2
                    .iter()
                    .find(|other| other.subscribers == row.subscribers)?;
                Some((
                    row.subscribers as f64,
                    row.all_notified_p50_us / theirs.all_notified_p50_us,
                ))
            })
            .collect();
        let baseline = y_range.start * 1.5;
        chart.draw_series(std::iter::once(
            EmptyElement::at((low_x, baseline))
                + Text::new(
                    "net-watcher's median ÷ Node's:",
                    (-8, -22),
                    font(15, &QUIET).pos(Pos::new(HPos::Left, VPos::Center)),
                ),
        ))?;
        chart.draw_series(ratios.iter().map(|&(x, ratio)| {
            Text::new(
                format!("{ratio:.2}×"),
                (x, baseline),
                font(15, &QUIET).pos(Pos::new(HPos::Center, VPos::Center)),
            )
        }))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

/// Plot 2: resident memory per idle subscriber.
fn memory(area: &Area, rows: &[FanOutRow]) -> Drawn {
    let first = &rows[0];
    let measured: Vec<FanOutRow> = rows
        .iter()
        .filter(|row| row.rss_per_idle_subscriber_bytes.is_some())
        .cloned()
        .collect();
    let area = header(
        area,
        "Memory per idle subscriber",
        &[
            provenance(&first.date, &first.machine, "fanout", &first.arguments),
            "The server's resident memory (RSS) with N connected, greeted, idle subscribers, less its RSS".to_owned(),
            "with one, divided by N − 1. Dashed: net-watcher's target, 1 KiB.".to_owned(),
        ],
    )?;
    if measured.is_empty() {
        area.draw_text(
            "No size above one subscriber in this run: nothing to show.",
            &font(18, &INK),
            (20, 40),
        )?;
        return Ok(());
    }
    let bytes = |row: &FanOutRow| row.rss_per_idle_subscriber_bytes.unwrap_or(0.0);
    let servers = by_server(&measured, |row| (&row.server, &row.server_label));
    let (low_x, high_x) = measured.iter().fold((f64::MAX, 0f64), |(low, high), row| {
        let size = row.subscribers as f64;
        (low.min(size), high.max(size))
    });
    let high_y = measured.iter().map(bytes).fold(1024f64, f64::max);
    let mut chart = ChartBuilder::on(&area)
        .x_label_area_size(56)
        .y_label_area_size(80)
        .build_cartesian_2d(
            ((low_x / 1.6)..(high_x * 1.6)).log_scale(),
            0f64..(high_y * 1.2),
        )?;
    house_style(&mut chart.configure_mesh())
        .x_labels(5)
        .x_desc("subscribers (log scale)")
        .y_desc("RSS per idle subscriber, bytes")
        .x_label_formatter(&|x| thousands(*x))
        .y_label_formatter(&|y| thousands(*y))
        .draw()?;
    let target_ends = [(low_x / 1.6, 1024.0), (high_x * 1.6, 1024.0)];
    chart.draw_series(DashedLineSeries::new(
        target_ends,
        8,
        6,
        QUIET.stroke_width(1),
    ))?;
    chart.draw_series(std::iter::once(
        EmptyElement::at(target_ends[0])
            + Text::new(
                "1 KiB",
                (6, -12),
                font(14, &QUIET).pos(Pos::new(HPos::Left, VPos::Center)),
            ),
    ))?;
    for (key, label, rows) in &servers {
        let style = server_style(key);
        let color = style.0;
        let points: Vec<(f64, f64)> = rows
            .iter()
            .map(|row| (row.subscribers as f64, bytes(row)))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(3)))?
            .label(*label)
            .legend(move |at| line_and_marker(at, style));
        chart.draw_series(
            points
                .iter()
                .map(|&at| EmptyElement::at(at) + marker(style)),
        )?;
        chart.draw_series(points.iter().map(|&(x, y)| {
            EmptyElement::at((x, y))
                + Text::new(
                    format!("{} B", thousands(y)),
                    (0, -18),
                    font(14, &color).pos(Pos::new(HPos::Center, VPos::Center)),
                )
        }))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// The kinds of change plot 3 shows, in order, with their names there.
const KINDS: [(&str, &str); 4] = [
    ("touch", "touch"),
    ("append", "append"),
    ("chmod", "chmod"),
    ("atomic-save", "atomic save"),
];

/// Plot 3: one subscriber's latency by kind of change.
fn latency(area: &Area, rows: &[LatencyRow]) -> Drawn {
    let first = &rows[0];
    let kinds: Vec<(&str, &str)> = KINDS
        .iter()
        .copied()
        .filter(|(key, _)| rows.iter().any(|row| row.operation == *key))
        .collect();
    let rows: Vec<&LatencyRow> = rows
        .iter()
        .filter(|row| kinds.iter().any(|(key, _)| row.operation == *key))
        .collect();
    let changes = rows.iter().map(|row| row.changes).max().unwrap_or(0);
    let area = header(
        area,
        "Latency of one notification, by kind of change",
        &[
            provenance(&first.date, &first.machine, "latency", &first.arguments),
            format!(
                "One subscriber, {changes} changes per kind and server. Point and figure: median (p50), ms; line: up to p99."
            ),
            "touch: as GNU touch does it (open, set the times, close); atomic save: write a copy, rename it over.".to_owned(),
        ],
    )?;
    if rows.is_empty() {
        area.draw_text(
            "No touch, append, chmod or atomic save in this run.",
            &font(18, &INK),
            (20, 40),
        )?;
        return Ok(());
    }
    let servers = by_server(&rows, |row| (&row.server, &row.server_label));
    let ms = |us: f64| us / 1000.0;
    let low_y = rows
        .iter()
        .filter_map(|row| row.p50_us)
        .map(ms)
        .fold(f64::MAX, f64::min);
    let high_y = rows
        .iter()
        .filter_map(|row| row.p99_us)
        .map(ms)
        .fold(0f64, f64::max);
    let (low_y, high_y) = if high_y == 0.0 {
        (0.1, 1.0)
    } else {
        (low_y, high_y)
    };
    // Room above the highest line for the missed marks and the legend.
    // Starting a little below a power of ten, so that its label shows.
    let y_range = (decade_below(low_y / 1.5) * 0.8)..(high_y * 12.0);
    let mut chart = ChartBuilder::on(&area)
        .x_label_area_size(56)
        .y_label_area_size(72)
        .build_cartesian_2d(
            -0.5f64..(kinds.len() as f64 - 0.5),
            y_range.clone().log_scale(),
        )?;
    house_style(&mut chart.configure_mesh())
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(6)
        .x_desc("kind of change")
        .y_desc("one subscriber notified, ms (log scale)")
        .y_label_formatter(&|y| axis_milliseconds(*y))
        .draw()?;
    // The kinds' names under their groups: the mesh's own labels are
    // numbers.
    for (index, (_, name)) in kinds.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(index as f64, y_range.start));
        area.draw_text(
            name,
            &font(17, &INK).pos(Pos::new(HPos::Center, VPos::Top)),
            (
                x - area.get_base_pixel().0,
                y - area.get_base_pixel().1 + 10,
            ),
        )?;
    }
    let missed_at = y_range.end / 3.5;
    let spread = 0.24;
    for (position, (key, label, rows)) in servers.iter().enumerate() {
        let style = server_style(key);
        let color = style.0;
        let offset = (position as f64 - (servers.len() as f64 - 1.0) / 2.0) * spread;
        // Legend entries only: each series below draws its own points.
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
            .label(*label)
            .legend(move |at| EmptyElement::at((at.0 + 12, at.1)) + marker(style));
        for row in rows {
            let Some(kind) = kinds.iter().position(|(key, _)| row.operation == *key) else {
                continue;
            };
            let x = kind as f64 + offset;
            match (row.p50_us.map(ms), row.p99_us.map(ms)) {
                (Some(p50), Some(p99)) => {
                    chart.draw_series(LineSeries::new(
                        [(x, p50), (x, p99)],
                        color.stroke_width(2),
                    ))?;
                    chart.draw_series(std::iter::once(
                        EmptyElement::at((x, p99))
                            + PathElement::new(vec![(-6, 0), (6, 0)], color.stroke_width(2)),
                    ))?;
                    chart
                        .draw_series(std::iter::once(EmptyElement::at((x, p50)) + marker(style)))?;
                    let mut text = milliseconds(p50);
                    if row.missed > 0 {
                        text = format!("{text} ({} missed)", row.missed);
                    }
                    chart.draw_series(std::iter::once(
                        EmptyElement::at((x, p50))
                            + Text::new(
                                text,
                                (9, 0),
                                font(14, &color).pos(Pos::new(HPos::Left, VPos::Center)),
                            ),
                    ))?;
                }
                // Never notified: no latency to draw, so a cross where
                // the point would be, and how many were missed.
                _ => {
                    chart.draw_series(std::iter::once(
                        EmptyElement::at((x, missed_at))
                            + Cross::new((0, 0), 7, color.stroke_width(3))
                            + Text::new(
                                "missed",
                                (0, -22),
                                font(15, &color).pos(Pos::new(HPos::Center, VPos::Center)),
                            )
                            + Text::new(
                                format!("{} of {}", row.missed, row.changes),
                                (0, 22),
                                font(15, &color).pos(Pos::new(HPos::Center, VPos::Center)),
                            ),
                    ))?;
                }
            }
        }
    }
    if rows.iter().any(|row| row.p50_us.is_none()) {
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
            .label("missed: no notification within 2 s")
            .legend(|(x, y)| Cross::new((x + 12, y), 6, INK.stroke_width(3)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}
