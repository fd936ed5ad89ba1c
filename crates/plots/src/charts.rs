//! The four charts. Each reads its data files, draws, and says what it drew.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::coord::combinators::{BindKeyPoints, LogCoord, WithKeyPoints};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::PlotError;
use crate::data::{self, Churn, Cost, Detection, Dissemination, Loaded, Loopback, SimReport};
use crate::draw::{
    COLORS, DrawResult, Drawn, FONT, Look, Marker, OrText, Panel, count_label, figure, legend_box,
    log_span, series, span,
};

/// One chart drawn.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Its file name, e.g. `detection.svg`.
    pub name: &'static str,
    /// Where it was written.
    pub path: PathBuf,
    /// Its series as `(panel: label, points drawn)`.
    pub series: Vec<(String, usize)>,
    /// The commits its data came from.
    pub commits: Vec<String>,
}

/// Draws one chart from a data directory into an output directory.
pub type Render = fn(&Path, &Path) -> Result<Chart, PlotError>;

/// Every chart: its file name and how it is drawn.
pub const CHARTS: [(&str, Render); 4] = [
    ("detection.svg", detection),
    ("bytes.svg", bytes),
    ("dissemination.svg", dissemination),
    ("churn.svg", churn),
];

/// Time until the first observer, and every live member, suspects a crashed node, against
/// N: one panel per (loss, stalling) setting.
pub fn detection(data_dir: &Path, out_dir: &Path) -> Result<Chart, PlotError> {
    const NAME: &str = "detection.svg";
    let files: Vec<Loaded<SimReport<Detection>>> =
        data::load_all(data_dir, "detection-", |r: &SimReport<Detection>| {
            &r.command
        })?;
    let files = nonempty(files, data_dir, "detection-<commit>.json", NAME)?;
    // (loss, slow fraction) -> N -> outcome; a later file's run at the same setting wins.
    let mut panels: BTreeMap<(Key, Key), BTreeMap<usize, &Detection>> = BTreeMap::new();
    for file in &files {
        check_experiment(file, "detection")?;
        for outcome in &file.data.outcomes {
            let setting = (Key(outcome.run.loss), Key(outcome.slow_fraction));
            panels
                .entry(setting)
                .or_default()
                .insert(outcome.run.nodes, outcome);
        }
    }
    let all: Vec<&Detection> = panels.values().flat_map(|m| m.values().copied()).collect();
    let ns: Vec<f64> = all.iter().map(|o| o.run.nodes as f64).collect();
    let values = all.iter().flat_map(|o| {
        [o.first_median_s, o.first_p99_s, o.all_median_s, o.all_p99_s]
            .into_iter()
            .flatten()
    });
    let (_, y1) = span(values.chain([0.0]), 0.08);

    let crashed: Vec<String> = panels
        .values()
        .next()
        .map(|runs| {
            runs.values()
                .map(|o| {
                    format!(
                        "{} at N = {}",
                        o.crashed,
                        count_label(&(o.run.nodes as f64))
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let missed: usize = all.iter().map(|o| o.not_suspected_by_all).sum();
    let mut notes = vec![format!(
        "Crashed nodes measured per run: {}. Median and p99 over the crashed nodes; \
         \"every live member\" = until every survivor holds it suspect or dead.",
        crashed.join(", ")
    )];
    for outcome in &all {
        if outcome.run.formed_s.is_none() {
            notes.push(format!(
                "N = {}, {}: not every node had seen every other live when the crashes \
                 began (the formation limit passed first).",
                count_label(&(outcome.run.nodes as f64)),
                loss_name(outcome.run.loss)
            ));
        }
    }
    if missed > 0 {
        notes.push(format!(
            "{missed} crashed node(s) were not suspected by every survivor by the end of \
             their run and are left out of the \"every live member\" points."
        ));
    }
    let sources: Vec<_> = files.iter().map(|f| &f.source).collect();
    let mut drawn = Drawn::new();
    let path = out_dir.join(NAME);
    let title = "Failure detection: time until a crashed node is suspected, against N";
    figure(&path, title, &notes, &sources, panels.len(), |areas| {
        for (area, ((loss, slow), runs)) in areas.iter().zip(&panels) {
            let heading = setting_name(loss.0, slow.0);
            let mut chart = log_chart(area, &heading, &ns, (0.0, y1))?;
            mesh(&mut chart, "seconds after the crash", |v| format!("{v:.0}"))?;
            let points = |f: fn(&Detection) -> Option<f64>| -> Vec<(f64, f64)> {
                runs.iter()
                    .filter_map(|(n, o)| f(o).map(|v| (*n as f64, v)))
                    .collect()
            };
            let prefix = format!("{heading}: ");
            let lines: [Line<Detection, Option<f64>>; 4] = [
                (
                    "first observer, median",
                    |o| o.first_median_s,
                    Look::solid(COLORS[0], Marker::Circle),
                ),
                (
                    "first observer, p99",
                    |o| o.first_p99_s,
                    Look::dashed(COLORS[0], Marker::Triangle),
                ),
                (
                    "every live member, median",
                    |o| o.all_median_s,
                    Look::solid(COLORS[1], Marker::Circle),
                ),
                (
                    "every live member, p99",
                    |o| o.all_p99_s,
                    Look::dashed(COLORS[1], Marker::Triangle),
                ),
            ];
            for (label, field, look) in lines {
                series(&mut chart, &mut drawn, &prefix, label, &points(field), look)?;
            }
            legend_box(&mut chart, SeriesLabelPosition::LowerRight)?;
        }
        Ok(())
    })?;
    Ok(chart_of(NAME, path, drawn, &sources))
}

/// UDP payload bytes per node per second against N: leviathan-gossip beside chitchat over
/// real sockets (the loopback bench), and the simulator's cost experiment if its data is
/// there.
pub fn bytes(data_dir: &Path, out_dir: &Path) -> Result<Chart, PlotError> {
    const NAME: &str = "bytes.svg";
    let bench: Vec<Loaded<Loopback>> =
        data::load_all(data_dir, "loopback-", |r: &Loopback| &r.command)?;
    let mut bench = nonempty(bench, data_dir, "loopback-<N>-<commit>.json", NAME)?;
    bench.sort_by_key(|f| f.data.settings.nodes);
    let costs: Vec<Loaded<SimReport<Cost>>> =
        data::load_all(data_dir, "cost-", |r: &SimReport<Cost>| &r.command)?;
    for file in &costs {
        check_experiment(file, "cost")?;
    }

    // N -> KB/s; a later file at the same N wins.
    let mut leviathan = BTreeMap::new();
    let mut chitchat = BTreeMap::new();
    for file in &bench {
        for (run, out) in [
            (&file.data.leviathan, &mut leviathan),
            (&file.data.chitchat, &mut chitchat),
        ] {
            let measurement = run.measurement.as_ref().ok_or_else(|| PlotError::Empty {
                path: file.source.path.clone(),
                what: "a system has no measurement (skipped or failed)".to_owned(),
            })?;
            out.insert(
                measurement.nodes,
                measurement.cost.bytes_per_node_s / 1000.0,
            );
        }
    }
    let points = |m: &BTreeMap<usize, f64>| -> Vec<(f64, f64)> {
        m.iter().map(|(n, b)| (*n as f64, *b)).collect()
    };
    let (leviathan, chitchat) = (points(&leviathan), points(&chitchat));
    let first = bench.first().map(|f| &f.data);
    let chitchat_name = first.map_or_else(String::new, |d| {
        format!(
            "chitchat {} (protocol {})",
            d.chitchat_version, d.settings.chitchat_protocol
        )
    });
    let interval_ms = first.map_or(0.0, |d| d.settings.gossip_interval_s * 1000.0);
    let bench_nodes: Vec<String> = bench
        .iter()
        .map(|f| count_label(&(f.data.settings.nodes as f64)))
        .collect();

    // Simulator: load -> N -> bytes (KB/s).
    let mut loads: BTreeMap<Key, BTreeMap<usize, f64>> = BTreeMap::new();
    let mut sim_interval_s = None;
    for file in &costs {
        for outcome in &file.data.outcomes {
            sim_interval_s = Some(outcome.run.gossip_interval_s);
            for phase in &outcome.phases {
                loads
                    .entry(Key(phase.writes_per_node_per_s))
                    .or_default()
                    .insert(outcome.run.nodes, phase.bytes_per_node_per_s / 1000.0);
            }
        }
    }

    let left = if loads.is_empty() { "The" } else { "Left: the" };
    let mut notes = vec![format!(
        "{left} loopback bench: N nodes of each system over real UDP on 127.0.0.1, one \
         system after the other, gossip every {interval_ms:.0} ms, idle; one run per N \
         ({}); bytes counted the same way for both.",
        bench_nodes.join(", ")
    )];
    if let Some(interval) = sim_interval_s {
        notes.push(format!(
            "Right: the simulator's cost experiment (modelled network, gossip every \
             {interval:.0} s, default settings): bytes each node sends per second over a \
             measurement window, idle and under each write load."
        ));
    }
    let mut sources: Vec<_> = bench.iter().map(|f| &f.source).collect();
    sources.extend(costs.iter().map(|f| &f.source));
    let mut drawn = Drawn::new();
    let path = out_dir.join(NAME);
    let title = "Traffic: UDP payload bytes sent per node per second, against N";
    let panels = if loads.is_empty() { 1 } else { 2 };
    figure(&path, title, &notes, &sources, panels, |areas| {
        let mut areas = areas.iter();
        if let Some(area) = areas.next() {
            let heading = "Loopback bench, real sockets";
            let xs: Vec<f64> = leviathan.iter().chain(&chitchat).map(|p| p.0).collect();
            let ys = leviathan.iter().chain(&chitchat).map(|p| p.1);
            let (_, y1) = span(ys.chain([0.0]), 0.1);
            let mut chart = log_chart(area, heading, &xs, (0.0, y1))?;
            mesh(&mut chart, "KB/s per node (1 KB = 1,000 bytes)", |v| {
                format!("{v:.0}")
            })?;
            let prefix = format!("{heading}: ");
            let look = Look::solid(COLORS[0], Marker::Circle);
            series(
                &mut chart,
                &mut drawn,
                &prefix,
                "leviathan-gossip",
                &leviathan,
                look,
            )?;
            let look = Look::solid(COLORS[1], Marker::Square);
            series(
                &mut chart,
                &mut drawn,
                &prefix,
                &chitchat_name,
                &chitchat,
                look,
            )?;
            legend_box(&mut chart, SeriesLabelPosition::UpperLeft)?;
        }
        if let Some(area) = areas.next() {
            let heading = "Simulator, leviathan-gossip only";
            let all = loads.values().flat_map(|m| m.iter());
            let xs: Vec<f64> = all.clone().map(|(n, _)| *n as f64).collect();
            let (_, y1) = span(all.map(|(_, b)| *b).chain([0.0]), 0.1);
            let mut chart = log_chart(area, heading, &xs, (0.0, y1))?;
            mesh(&mut chart, "KB/s per node (1 KB = 1,000 bytes)", |v| {
                format!("{v:.0}")
            })?;
            let prefix = format!("{heading}: ");
            let markers = [Marker::Circle, Marker::Triangle, Marker::Square];
            for (i, (load, runs)) in loads.iter().enumerate() {
                let label = if load.0 == 0.0 {
                    "idle".to_owned()
                } else {
                    format!("{} writes per node per s", load.0)
                };
                let points: Vec<_> = runs.iter().map(|(n, b)| (*n as f64, *b)).collect();
                let color = COLORS.get(2 + i % 4).copied().unwrap_or(BLACK);
                let marker = markers.get(i % 3).copied().unwrap_or(Marker::Circle);
                let look = Look::solid(color, marker);
                series(&mut chart, &mut drawn, &prefix, &label, &points, look)?;
            }
            legend_box(&mut chart, SeriesLabelPosition::UpperLeft)?;
        }
        Ok(())
    })?;
    Ok(chart_of(NAME, path, drawn, &sources))
}

/// Rounds until one write reaches 50 / 99 / 99.9 / 100 % of the nodes against N, beside
/// the push-pull bound (fanout 1) or Serf's model (fanout 3): one panel per fanout.
pub fn dissemination(data_dir: &Path, out_dir: &Path) -> Result<Chart, PlotError> {
    const NAME: &str = "dissemination.svg";
    let files: Vec<Loaded<SimReport<Dissemination>>> = data::load_all(
        data_dir,
        "dissemination-",
        |r: &SimReport<Dissemination>| &r.command,
    )?;
    let files = nonempty(files, data_dir, "dissemination-<commit>.json", NAME)?;
    // (fanout, loss) -> N -> outcome.
    let mut panels: BTreeMap<(usize, Key), BTreeMap<usize, &Dissemination>> = BTreeMap::new();
    for file in &files {
        check_experiment(file, "dissemination")?;
        for outcome in &file.data.outcomes {
            let setting = (outcome.run.fanout, Key(outcome.run.loss));
            panels
                .entry(setting)
                .or_default()
                .insert(outcome.run.nodes, outcome);
        }
    }
    let all: Vec<&Dissemination> = panels.values().flat_map(|m| m.values().copied()).collect();
    let ns: Vec<f64> = all.iter().map(|o| o.run.nodes as f64).collect();
    let values = all.iter().flat_map(|o| {
        let reach = o
            .reach
            .iter()
            .flat_map(|r| [r.median_rounds, r.p99_rounds].into_iter().flatten());
        reach
            .chain([o.push_pull_bound_rounds * GOAL_FACTOR])
            .chain(o.serf_rounds_999.filter(|_| o.run.fanout == SERF_FANOUT))
            .collect::<Vec<_>>()
    });
    // Headroom above the data for the legend in the upper left.
    let (_, y1) = span(values.chain([0.0]), 0.08);
    let y1 = y1 / 0.62;
    let trials: Vec<String> = all.iter().map(|o| o.trials.len().to_string()).collect();
    let trials = if trials.windows(2).all(|w| w.first() == w.last()) {
        trials.first().cloned().unwrap_or_default()
    } else {
        trials.join(" / ")
    };
    let mut notes = vec![format!(
        "Once the cluster has formed (or the formation limit passed), one node writes one \
         key; rounds (gossip intervals) until the share of nodes holding it reaches each \
         level, {trials} writes per point. \
         Push-pull bound: log\u{2083}N + log\u{2082}log\u{2082}N rounds for fanout 1 \
         (the issue-3 goal: p99 to 99.9 % within {GOAL_FACTOR}\u{d7} it). Serf's model: \
         rounds to 99.9 % at fanout 3, where published for that N."
    )];
    for outcome in &all {
        if outcome.run.formed_s.is_none() {
            let knew = outcome
                .trials
                .iter()
                .filter(|t| t.live > 0)
                .map(|t| t.knew_writer as f64 / t.live as f64 * 100.0)
                .fold(f64::INFINITY, f64::min);
            notes.push(format!(
                "N = {}, fanout {}: not every node had seen every other live when the \
                 writes began (the formation limit passed first); at each write at least \
                 {knew:.1} % of the nodes knew the writer.",
                count_label(&(outcome.run.nodes as f64)),
                outcome.run.fanout
            ));
        }
    }
    let sources: Vec<_> = files.iter().map(|f| &f.source).collect();
    let mut drawn = Drawn::new();
    let path = out_dir.join(NAME);
    let title = "Dissemination of one write: rounds to reach the nodes, against N";
    figure(&path, title, &notes, &sources, panels.len(), |areas| {
        for (area, ((fanout, loss), runs)) in areas.iter().zip(&panels) {
            let heading = format!("fanout {fanout}, {}", loss_name(loss.0));
            let mut chart = log_chart(area, &heading, &ns, (0.0, y1))?;
            mesh(&mut chart, "rounds (1 round = 1 gossip interval)", |v| {
                format!("{v:.0}")
            })?;
            let prefix = format!("{heading}: ");
            let mut levels: BTreeMap<Key, Vec<(f64, f64)>> = BTreeMap::new();
            let mut p999_p99 = Vec::new();
            for (n, outcome) in runs {
                for reach in &outcome.reach {
                    if let Some(rounds) = reach.median_rounds {
                        levels
                            .entry(Key(reach.percent))
                            .or_default()
                            .push((*n as f64, rounds));
                    }
                    if let Some(rounds) = reach.p99_rounds
                        && (reach.percent - 99.9).abs() < 1e-9
                    {
                        p999_p99.push((*n as f64, rounds));
                    }
                }
            }
            for (i, (percent, points)) in levels.iter().enumerate() {
                let color = COLORS.get(i).copied().unwrap_or(BLACK);
                let label = format!("{} % of nodes, median", percent.0);
                series(
                    &mut chart,
                    &mut drawn,
                    &prefix,
                    &label,
                    points,
                    Look::solid(color, Marker::Circle),
                )?;
            }
            let index = levels.keys().position(|p| (p.0 - 99.9).abs() < 1e-9);
            let color = index.and_then(|i| COLORS.get(i)).copied().unwrap_or(BLACK);
            series(
                &mut chart,
                &mut drawn,
                &prefix,
                "99.9 % of nodes, p99",
                &p999_p99,
                Look::dashed(color, Marker::Triangle),
            )?;
            if *fanout == 1 {
                let bound: Vec<_> = runs
                    .iter()
                    .map(|(n, o)| (*n as f64, o.push_pull_bound_rounds))
                    .collect();
                let goal: Vec<_> = bound.iter().map(|(n, b)| (*n, b * GOAL_FACTOR)).collect();
                let look = Look::solid(BLACK, Marker::None);
                series(
                    &mut chart,
                    &mut drawn,
                    &prefix,
                    "push-pull bound",
                    &bound,
                    look,
                )?;
                let label = format!("{GOAL_FACTOR} \u{d7} bound (goal for 99.9 % p99)");
                let look = Look::dashed(RGBColor(120, 120, 120), Marker::None);
                series(&mut chart, &mut drawn, &prefix, &label, &goal, look)?;
            }
            let serf: Vec<_> = runs
                .iter()
                .filter_map(|(n, o)| o.serf_rounds_999.map(|r| (*n as f64, r)))
                .collect();
            if *fanout == SERF_FANOUT && !serf.is_empty() {
                let look = Look::dashed(BLACK, Marker::Square);
                series(
                    &mut chart,
                    &mut drawn,
                    &prefix,
                    "Serf's model, 99.9 %",
                    &serf,
                    look,
                )?;
            }
            legend_box(&mut chart, SeriesLabelPosition::UpperLeft)?;
        }
        Ok(())
    })?;
    Ok(chart_of(NAME, path, drawn, &sources))
}

/// What each running node holds over a long churn run, and the simulator's memory.
pub fn churn(data_dir: &Path, out_dir: &Path) -> Result<Chart, PlotError> {
    const NAME: &str = "churn.svg";
    let files: Vec<Loaded<SimReport<Churn>>> =
        data::load_all(data_dir, "churn-", |r: &SimReport<Churn>| &r.command)?;
    let files = nonempty(files, data_dir, "churn-<commit>.json", NAME)?;
    let mut runs = Vec::new();
    for file in &files {
        check_experiment(file, "churn")?;
        for outcome in &file.data.outcomes {
            if outcome.samples.is_empty() {
                return Err(PlotError::Empty {
                    path: file.source.path.clone(),
                    what: "a churn run has no samples".to_owned(),
                });
            }
            runs.push(outcome);
        }
    }
    let hours = |s: &data::ChurnSample| s.at_s / 3600.0;
    let samples = runs.iter().flat_map(|r| r.samples.iter());
    let (x0, x1) = span(samples.clone().map(hours).chain([0.0]), 0.02);
    let (_, held_top) = span(
        samples
            .clone()
            .flat_map(|s| [s.records_max as f64, s.nodes_max as f64])
            .chain([0.0]),
        0.1,
    );
    let (_, rss_top) = span(samples.filter_map(|s| s.rss_mib).chain([0.0]), 0.1);
    let mut notes: Vec<String> = runs.iter().map(|r| churn_summary(r)).collect();
    notes.push(
        "Left: what each running node holds (Node::footprint): records of all owners, \
         tombstones included, and nodes in its state. Right: resident memory of the whole \
         simulator process (every node, plus the invariant checker's record of every key \
         each observer reported)."
            .to_owned(),
    );
    let sources: Vec<_> = files.iter().map(|f| &f.source).collect();
    let mut drawn = Drawn::new();
    let path = out_dir.join(NAME);
    let title = "Memory over a long churn run: state held per node, and the process";
    figure(&path, title, &notes, &sources, 2, |areas| {
        let mut areas = areas.iter();
        if let Some(area) = areas.next() {
            let heading = "Held per running node";
            let mut chart = linear_chart(area, heading, (x0, x1), (0.0, held_top))?;
            chart
                .configure_mesh()
                .x_desc("simulated hours of churn")
                .x_label_formatter(&|v| format!("{v:.0}"))
                .y_desc("entries per node")
                .max_light_lines(2)
                .y_label_formatter(&count_label)
                .label_style((FONT, 13))
                .axis_desc_style((FONT, 14))
                .draw()
                .or_text()?;
            let prefix = format!("{heading}: ");
            for (i, run) in runs.iter().enumerate() {
                let n = if runs.len() > 1 {
                    format!(" (N = {})", run.run.nodes)
                } else {
                    String::new()
                };
                let shift = 3 * (i % 2);
                let column = |f: fn(&data::ChurnSample) -> f64| -> Vec<(f64, f64)> {
                    run.samples.iter().map(|s| (hours(s), f(s))).collect()
                };
                let lines: [Line<data::ChurnSample, f64>; 4] = [
                    (
                        "records, mean",
                        |s| s.records_mean,
                        Look::solid(color(shift), Marker::Circle),
                    ),
                    (
                        "records, max",
                        |s| s.records_max as f64,
                        Look::dashed(color(shift), Marker::None),
                    ),
                    (
                        "nodes in state, mean",
                        |s| s.nodes_mean,
                        Look::solid(color(shift + 1), Marker::None),
                    ),
                    (
                        "nodes in state, max",
                        |s| s.nodes_max as f64,
                        Look::dashed(color(shift + 1), Marker::None),
                    ),
                ];
                for (label, field, look) in lines {
                    let label = format!("{label}{n}");
                    series(
                        &mut chart,
                        &mut drawn,
                        &prefix,
                        &label,
                        &column(field),
                        look,
                    )?;
                }
            }
            legend_box(&mut chart, SeriesLabelPosition::MiddleRight)?;
        }
        if let Some(area) = areas.next() {
            let heading = "Simulator process";
            let mut chart = linear_chart(area, heading, (x0, x1), (0.0, rss_top))?;
            chart
                .configure_mesh()
                .x_desc("simulated hours of churn")
                .x_label_formatter(&|v| format!("{v:.0}"))
                .y_desc("resident memory, MiB")
                .max_light_lines(2)
                .y_label_formatter(&|v| format!("{v:.0}"))
                .label_style((FONT, 13))
                .axis_desc_style((FONT, 14))
                .draw()
                .or_text()?;
            let prefix = format!("{heading}: ");
            for (i, run) in runs.iter().enumerate() {
                let points: Vec<_> = run
                    .samples
                    .iter()
                    .filter_map(|s| s.rss_mib.map(|m| (hours(s), m)))
                    .collect();
                let label = format!(
                    "resident memory, N = {}",
                    count_label(&(run.run.nodes as f64))
                );
                let look = Look::solid(color(2 + 3 * (i % 2)), Marker::Circle);
                series(&mut chart, &mut drawn, &prefix, &label, &points, look)?;
            }
            legend_box(&mut chart, SeriesLabelPosition::LowerRight)?;
        }
        Ok(())
    })?;
    Ok(chart_of(NAME, path, drawn, &sources))
}

/// What happened in a churn run, from its counts.
fn churn_summary(run: &Churn) -> String {
    let minutes = run.duration_s / 60.0;
    let nodes = run.run.nodes as f64;
    let events: u64 = run.churn_events.iter().map(|(_, n)| n).sum();
    let kinds: Vec<String> = run
        .churn_events
        .iter()
        .map(|(kind, n)| format!("{kind}: {}", count_label(&(*n as f64))))
        .collect();
    let per_minute = |count: f64| {
        if minutes > 0.0 && nodes > 0.0 {
            count / minutes / nodes
        } else {
            0.0
        }
    };
    format!(
        "N = {}, {:.0} simulated hours: {} churn events ({:.2} % of the nodes a minute; {}); \
         {} writes, overwrites, deletes and writes with a time to live ({:.2} per node a \
         minute).",
        count_label(&nodes),
        run.duration_s / 3600.0,
        count_label(&(events as f64)),
        per_minute(events as f64) * 100.0,
        kinds.join("; "),
        count_label(&(run.writes as f64)),
        per_minute(run.writes as f64),
    )
}

/// The factor of issue 3's dissemination goal: p99 rounds to 99.9 % within this many
/// times the push-pull bound.
const GOAL_FACTOR: f64 = 1.3;

/// A series to draw: its label, how to read its value from a run or sample, its look.
type Line<T, V> = (&'static str, fn(&T) -> V, Look);

/// The fanout Serf's published model is for.
const SERF_FANOUT: usize = 3;

/// An `f64` that can key a sorted map (settings such as loss: never NaN in the data).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Key(f64);

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A chart of the palette, cycling.
fn color(i: usize) -> RGBColor {
    COLORS.get(i % COLORS.len()).copied().unwrap_or(BLACK)
}

/// The files, or an error saying none was found.
fn nonempty<T>(
    files: Vec<Loaded<T>>,
    dir: &Path,
    pattern: &'static str,
    chart: &'static str,
) -> Result<Vec<Loaded<T>>, PlotError> {
    if files.is_empty() {
        Err(PlotError::NoData {
            dir: dir.to_path_buf(),
            pattern,
            chart,
        })
    } else {
        Ok(files)
    }
}

/// Refuses a simulator report of another experiment (a misnamed file).
fn check_experiment<T>(file: &Loaded<SimReport<T>>, expected: &str) -> Result<(), PlotError> {
    if file.data.experiment == expected {
        Ok(())
    } else {
        Err(PlotError::Empty {
            path: file.source.path.clone(),
            what: format!(
                "holds the {:?} experiment, not {expected:?}",
                file.data.experiment
            ),
        })
    }
}

/// "loss 0 %" or "loss 10 %".
fn loss_name(loss: f64) -> String {
    format!("loss {} %", round(loss * 100.0))
}

/// "loss 0 %, no stalls" or "loss 10 %, 5 % of nodes stalling".
fn setting_name(loss: f64, slow: f64) -> String {
    if slow == 0.0 {
        format!("{}, no stalls", loss_name(loss))
    } else {
        format!("{}, {} % stalling", loss_name(loss), round(slow * 100.0))
    }
}

/// A percentage without float noise (10.000000000000002 -> 10).
fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// N on a log axis, labelled at the values of N measured.
type LogN = WithKeyPoints<LogCoord<f64>>;

/// A chart with N on a log x axis, ticks at `ns`.
fn log_chart<'a>(
    area: &Panel<'a>,
    heading: &str,
    ns: &[f64],
    (y0, y1): (f64, f64),
) -> DrawResult<ChartContext<'a, SVGBackend<'a>, Cartesian2d<LogN, RangedCoordf64>>> {
    let (x0, x1) = log_span(ns.iter().copied());
    let mut ticks = ns.to_vec();
    ticks.sort_by(f64::total_cmp);
    ticks.dedup();
    ChartBuilder::on(area)
        .caption(heading, (FONT, 16))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(58)
        .build_cartesian_2d((x0..x1).log_scale().with_key_points(ticks), y0..y1)
        .or_text()
}

/// A chart with linear axes.
fn linear_chart<'a>(
    area: &Panel<'a>,
    heading: &str,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> DrawResult<ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>> {
    ChartBuilder::on(area)
        .caption(heading, (FONT, 16))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(58)
        .build_cartesian_2d(x0..x1, y0..y1)
        .or_text()
}

/// The grid and axes of a chart with N on the x axis.
fn mesh(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<LogN, RangedCoordf64>>,
    y_desc: &str,
    y_label: impl Fn(&f64) -> String,
) -> DrawResult<()> {
    chart
        .configure_mesh()
        .x_desc("N, nodes (log scale)")
        .max_light_lines(2)
        .y_desc(y_desc)
        .x_label_formatter(&count_label)
        .y_label_formatter(&y_label)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()
        .or_text()
}

/// The chart's record.
fn chart_of(name: &'static str, path: PathBuf, series: Drawn, sources: &[&data::Source]) -> Chart {
    let mut commits: Vec<String> = Vec::new();
    for source in sources {
        if !commits.contains(&source.commit) {
            commits.push(source.commit.clone());
        }
    }
    Chart {
        name,
        path,
        series,
        commits,
    }
}
