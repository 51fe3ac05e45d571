//! `wyoming-bridge latency FILE`: percentiles per stage as a text table, and an SVG stacked-bar chart
//! of the TTFA stage breakdown (one bar per turn, plus a bar of the stage medians). Hand-written
//! SVG: a plotting crate would be most of the bridge's dependency tree for one chart.

use std::fmt::Write as _;
use std::path::Path;

use super::{LatencyError, Metrics, Stage, TurnLatency};

/// What the subcommand prints and writes.
#[derive(Debug, Clone)]
pub struct LatencyReport {
    pub table: String,
    pub svg: String,
    pub turns: usize,
    /// Lines that were not turn records (blank lines are not counted).
    pub skipped: usize,
}

/// Reads a JSONL latency file and builds the report.
pub fn latency_report(path: &Path) -> Result<LatencyReport, LatencyError> {
    let text = std::fs::read_to_string(path).map_err(|source| LatencyError::Io { path: path.to_owned(), source })?;
    let report = report_from_jsonl(&text);
    if report.turns == 0 {
        return Err(LatencyError::Empty { path: path.to_owned() });
    }
    Ok(report)
}

/// The `wyoming-bridge latency FILE` subcommand: builds the report and writes the chart to `svg_out`,
/// or next to the file with `.svg` appended. Returns the table and where the chart went.
pub fn write_report(path: &Path, svg_out: Option<&Path>) -> Result<(String, std::path::PathBuf), LatencyError> {
    let report = latency_report(path)?;
    let svg_path = svg_out.map(Path::to_path_buf).unwrap_or_else(|| {
        let mut name = path.as_os_str().to_owned();
        name.push(".svg");
        name.into()
    });
    std::fs::write(&svg_path, &report.svg).map_err(|source| LatencyError::Io { path: svg_path.clone(), source })?;
    Ok((report.table, svg_path))
}

/// The report for the text of a JSONL file. Lines that do not parse are counted and skipped: a
/// log cut by a crash must still be readable.
pub fn report_from_jsonl(text: &str) -> LatencyReport {
    let mut turns = Vec::new();
    let mut skipped = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<TurnLatency>(line) {
            Ok(turn) => turns.push(turn),
            Err(_) => skipped += 1,
        }
    }
    let metrics: Vec<Metrics> = turns.iter().map(TurnLatency::metrics).collect();
    LatencyReport { table: table(&metrics, skipped), svg: svg(&turns), turns: turns.len(), skipped }
}

/// The table's rows: label and how to read the value from the metrics.
type Row = (&'static str, fn(&Metrics) -> Option<f64>);

const ROWS: [Row; 15] = [
    ("TTFA (speech end -> first audio sent)", |m| m.ttfa_ms),
    ("  vad hangover", |m| stage(m, Stage::Hangover)),
    ("  stt after end of speech", |m| stage(m, Stage::Stt)),
    ("  decide (bridge)", |m| stage(m, Stage::Decide)),
    ("  llm first token", |m| stage(m, Stage::LlmFirstToken)),
    ("  text aggregation", |m| stage(m, Stage::Aggregation)),
    ("  tts first audio", |m| stage(m, Stage::Tts)),
    ("  playout (bridge)", |m| stage(m, Stage::Playout)),
    ("bridge overhead", |m| m.bridge_overhead_ms),
    ("asr total", |m| m.asr_ms),
    ("llm total", |m| m.llm_total_ms),
    ("TTFA, Python definition", |m| m.total_ttfa_ms),
    ("whole turn", |m| m.total_turn_ms),
    ("barge-in -> llm dropped", |m| m.bargein_to_llm_dropped_ms),
    ("barge-in -> audio stopped", |m| m.bargein_to_audio_stopped_ms),
];

fn stage(m: &Metrics, stage: Stage) -> Option<f64> {
    m.stages.get(stage.name()).and_then(serde_json::Value::as_f64)
}

/// The `q` quantile (0..=1) by linear interpolation between closest ranks (NumPy's default).
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let low = position.floor() as usize;
    let high = position.ceil() as usize;
    Some(sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64))
}

fn table(metrics: &[Metrics], skipped: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} turns{}",
        metrics.len(),
        if skipped > 0 { format!(" ({skipped} unreadable lines skipped)") } else { String::new() }
    );
    let _ = writeln!(out, "{:<40} {:>5} {:>9} {:>9} {:>9} {:>9}", "stage (ms)", "n", "p50", "p90", "p99", "mean");
    for (label, read) in ROWS {
        let mut values: Vec<f64> = metrics.iter().filter_map(read).collect();
        if values.is_empty() {
            continue;
        }
        values.sort_by(f64::total_cmp);
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let p = |q| percentile(&values, q).unwrap_or(f64::NAN);
        let _ = writeln!(
            out,
            "{label:<40} {:>5} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            values.len(),
            p(0.5),
            p(0.9),
            p(0.99),
            mean
        );
    }
    out
}

const COLOURS: [&str; 7] = ["#9e9e9e", "#4e79a7", "#bab0ac", "#f28e2b", "#edc948", "#59a14f", "#b07aa1"];
const LEFT: f64 = 150.0;
const WIDTH: f64 = 900.0;
const BAR: f64 = 16.0;
const GAP: f64 = 6.0;

fn svg(turns: &[TurnLatency]) -> String {
    let mut bars: Vec<(String, Vec<(Stage, f64)>)> = Vec::new();
    let with_stages: Vec<(&TurnLatency, Vec<(Stage, f64)>)> =
        turns.iter().map(|t| (t, t.stages())).filter(|(_, s)| !s.is_empty()).collect();
    if !with_stages.is_empty() {
        let medians = Stage::ALL
            .iter()
            .filter_map(|&stage| {
                let mut v: Vec<f64> = with_stages
                    .iter()
                    .filter_map(|(_, s)| s.iter().find(|(st, _)| *st == stage).map(|(_, v)| *v))
                    .collect();
                v.sort_by(f64::total_cmp);
                percentile(&v, 0.5).map(|p| (stage, p))
            })
            .collect();
        bars.push(("median of each stage".to_owned(), medians));
    }
    for (turn, stages) in &with_stages {
        let label = if turn.turn_id.is_empty() { "turn".to_owned() } else { turn.turn_id.clone() };
        bars.push((label, stages.clone()));
    }
    let max = bars.iter().map(|(_, s)| s.iter().map(|(_, v)| v).sum::<f64>()).fold(0.0, f64::max).max(1.0);
    let tick = nice_tick(max);
    let axis_end = (max / tick).ceil().max(1.0) * tick;
    let scale = (WIDTH - LEFT - 40.0) / axis_end;
    let top = 40.0;
    let chart_bottom = top + bars.len() as f64 * (BAR + GAP);
    let height = chart_bottom + 70.0;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="20" font-size="14">Time to first audio by stage (ms), {} turns</text>"#,
        with_stages.len()
    );
    // Grid and axis labels.
    let mut x = 0.0;
    while x <= axis_end + tick * 0.01 {
        let px = LEFT + x * scale;
        let _ = writeln!(out, r##"<line x1="{px:.1}" y1="{top}" x2="{px:.1}" y2="{chart_bottom}" stroke="#e0e0e0"/>"##);
        let _ = writeln!(out, r#"<text x="{px:.1}" y="{:.1}" text-anchor="middle">{x:.0}</text>"#, chart_bottom + 14.0);
        x += tick;
    }
    for (i, (label, stages)) in bars.iter().enumerate() {
        let y = top + i as f64 * (BAR + GAP);
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + BAR - 4.0,
            escape(&shorten(label, 24))
        );
        let mut left = LEFT;
        for (stage, value) in stages {
            let w = value * scale;
            let colour = COLOURS[Stage::ALL.iter().position(|s| s == stage).unwrap_or(0)];
            let _ = writeln!(
                out,
                r#"<rect x="{left:.1}" y="{y:.1}" width="{w:.1}" height="{BAR}" fill="{colour}"><title>{}: {value:.1} ms</title></rect>"#,
                stage.name()
            );
            left += w;
        }
        let total: f64 = stages.iter().map(|(_, v)| v).sum();
        let _ = writeln!(out, r#"<text x="{:.1}" y="{:.1}">{total:.0}</text>"#, left + 4.0, y + BAR - 4.0);
    }
    // Legend.
    let legend_y = chart_bottom + 32.0;
    for (i, stage) in Stage::ALL.iter().enumerate() {
        let lx = LEFT + i as f64 * 105.0;
        let _ = writeln!(out, r#"<rect x="{lx:.1}" y="{legend_y:.1}" width="12" height="12" fill="{}"/>"#, COLOURS[i]);
        let _ = writeln!(out, r#"<text x="{:.1}" y="{:.1}">{}</text>"#, lx + 16.0, legend_y + 10.0, stage.name());
    }
    out.push_str("</svg>\n");
    out
}

/// A round grid step giving 4–10 lines.
fn nice_tick(max: f64) -> f64 {
    let raw = max / 6.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|step| *step >= raw).unwrap_or(magnitude * 10.0)
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut out: String = text.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
