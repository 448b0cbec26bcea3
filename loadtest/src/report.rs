//! The end of a run: a summary table on stdout, a JSON file for machines, and a Markdown report
//! with SVG charts of latency over time and of the latency distribution.

use crate::stats::{Stats, Summary, Violation};
use anyhow::Result;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

#[derive(Debug, Clone, serde::Serialize)]
pub struct HubFigures {
    pub node: usize,
    pub cpu_seconds: f64,
    pub cpu_us_per_delivery: f64,
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
    pub kib_per_connection: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub scenario: String,
    pub target: String,
    pub params: serde_json::Value,
    pub seconds: f64,
    pub connections: usize,
    pub posts_sent: u64,
    pub posts_acked: u64,
    pub posts_per_second: f64,
    pub deliveries: u64,
    pub deliveries_per_second: f64,
    pub reads_sent: u64,
    pub errors: u64,
    pub rate_limited: u64,
    pub delivery: Summary,
    /// Deliveries whose poster was on another node (cluster runs; empty on one node).
    pub cross_node: Summary,
    pub ack: Summary,
    pub connect: Summary,
    pub last_reader: Option<Summary>,
    pub hubs: Vec<HubFigures>,
    /// CPU of Postgres and Redis (all their processes on this machine) per delivery.
    pub services_cpu_us_per_delivery: Option<f64>,
    pub timeline: Vec<(u64, f64, f64, u64)>,
    pub distribution: Vec<(f64, f64)>,
    pub violations: Vec<Violation>,
    pub violation_count: u64,
    pub extra: serde_json::Value,
    /// The same scenario against the floor (`--floor`), measured in the same run.
    pub floor: Option<FloorFigures>,
    /// This load generator's own CPU seconds (it shares the machine with the hubs).
    pub loadgen_cpu_seconds: f64,
    /// /proc/loadavg at the end of the run: other work on the machine skews every figure.
    pub loadavg: String,
}

/// The floor's figures beside the hub's, and how far apart they are.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FloorFigures {
    pub deliveries: u64,
    pub deliveries_per_second: f64,
    pub delivery: Summary,
    pub cpu_us_per_delivery: f64,
    pub kib_per_connection: f64,
    pub peak_rss_kib: u64,
    /// Hub CPU per delivery (all nodes) over the floor's.
    pub cpu_ratio: f64,
    pub violation_count: u64,
    /// The floor run's scenario-specific figures (saturate: its steps and last good rate).
    pub extra: serde_json::Value,
}

impl FloorFigures {
    pub fn of(floor: &Report, hub: &Report) -> FloorFigures {
        let f = floor.hubs.first();
        let f_cpu = f.map(|h| h.cpu_us_per_delivery).unwrap_or(0.0);
        FloorFigures {
            deliveries: floor.deliveries,
            deliveries_per_second: floor.deliveries_per_second,
            delivery: floor.delivery.clone(),
            cpu_us_per_delivery: f_cpu,
            kib_per_connection: f.map(|h| h.kib_per_connection).unwrap_or(0.0),
            peak_rss_kib: f.map(|h| h.peak_rss_kib).unwrap_or(0),
            cpu_ratio: if f_cpu > 0.0 {
                hub.cpu_us_per_delivery_total() / f_cpu
            } else {
                0.0
            },
            violation_count: floor.violation_count,
            extra: floor.extra.clone(),
        }
    }
}

impl Report {
    /// Sets the services' CPU per delivery from two readings of [`crate::hubs::Hubs::services_cpu`].
    pub fn set_services_cpu(&mut self, before: Option<f64>, after: Option<f64>) {
        if let (Some(b), Some(a)) = (before, after) {
            if self.deliveries > 0 {
                self.services_cpu_us_per_delivery =
                    Some((a - b).max(0.0) * 1e6 / self.deliveries as f64);
            }
        }
    }

    pub fn new(
        scenario: &str,
        target: &str,
        params: serde_json::Value,
        stats: &Stats,
        elapsed: Duration,
    ) -> Report {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let deliveries = stats.deliveries.load(Ordering::Relaxed);
        let acked = stats.posts_acked.load(Ordering::Relaxed);
        Report {
            scenario: scenario.into(),
            target: target.into(),
            params,
            seconds: secs,
            connections: 0,
            posts_sent: stats.posts_sent.load(Ordering::Relaxed),
            posts_acked: acked,
            posts_per_second: acked as f64 / secs,
            deliveries,
            deliveries_per_second: deliveries as f64 / secs,
            reads_sent: stats.reads_sent.load(Ordering::Relaxed),
            errors: stats.errors.load(Ordering::Relaxed),
            rate_limited: stats.rate_limited.load(Ordering::Relaxed),
            delivery: stats.delivery(),
            cross_node: stats.cross_node(),
            ack: stats.ack(),
            connect: stats.connect(),
            last_reader: None,
            hubs: Vec::new(),
            services_cpu_us_per_delivery: None,
            timeline: stats.timeline(),
            distribution: stats.distribution(),
            violations: stats.violations(),
            violation_count: stats.violation_count(),
            extra: serde_json::Value::Null,
            floor: None,
            loadgen_cpu_seconds: crate::hubs::sample(std::process::id())
                .map(|s| s.cpu_seconds)
                .unwrap_or(0.0),
            loadavg: std::fs::read_to_string("/proc/loadavg")
                .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
        }
    }

    /// CPU of every hub node per delivered message.
    pub fn cpu_us_per_delivery_total(&self) -> f64 {
        let cpu: f64 = self.hubs.iter().map(|h| h.cpu_seconds).sum();
        if self.deliveries > 0 {
            cpu * 1e6 / self.deliveries as f64
        } else {
            0.0
        }
    }

    pub fn ok(&self) -> bool {
        self.violation_count == 0 && self.violations.is_empty()
    }

    /// The report as a Markdown table of figures.
    pub fn table(&self) -> String {
        let mut t = format!(
            "| {:<28} | {:<44} |\n|{}|{}|\n",
            "figure",
            "value",
            "-".repeat(30),
            "-".repeat(46)
        );
        self.traffic_rows(&mut t);
        self.hub_rows(&mut t);
        self.floor_rows(&mut t);
        self.extra_rows(&mut t);
        t
    }

    /// Scenario, connections, posts, deliveries and latencies.
    fn traffic_rows(&self, t: &mut String) {
        line(
            t,
            "scenario / target",
            format!("{} / {}", self.scenario, self.target),
        );
        line(t, "connections", self.connections.to_string());
        line(
            t,
            "posts acked / sent",
            format!(
                "{} / {} ({:.0}/s)",
                self.posts_acked, self.posts_sent, self.posts_per_second
            ),
        );
        line(
            t,
            "deliveries",
            format!("{} ({:.0}/s)", self.deliveries, self.deliveries_per_second),
        );
        for (name, x) in [
            ("delivery latency (ms)", &self.delivery),
            ("  of which cross-node (ms)", &self.cross_node),
            ("ack latency (ms)", &self.ack),
            ("connect latency (ms)", &self.connect),
        ] {
            if x.count > 0 {
                line(t, name, summary(x));
            }
        }
        if let Some(l) = &self.last_reader {
            line(t, "last reader latency (ms)", summary(l));
        }
    }

    /// CPU and memory of each node, and of Postgres and Redis.
    fn hub_rows(&self, t: &mut String) {
        for h in &self.hubs {
            line(
                t,
                &format!("node {} CPU", h.node),
                if self.deliveries > 0 {
                    format!(
                        "{:.1} µs / delivery ({:.2} CPU s)",
                        h.cpu_us_per_delivery, h.cpu_seconds
                    )
                } else {
                    format!("{:.2} CPU s", h.cpu_seconds)
                },
            );
            line(
                t,
                &format!("node {} RSS", h.node),
                format!(
                    "{} KiB (peak {} KiB), {:.1} KiB/conn",
                    h.rss_kib, h.peak_rss_kib, h.kib_per_connection
                ),
            );
        }
        if self.hubs.len() > 1 {
            line(
                t,
                "all nodes CPU µs / delivery",
                format!("{:.1}", self.cpu_us_per_delivery_total()),
            );
        }
        if let Some(c) = self.services_cpu_us_per_delivery {
            line(t, "Postgres+Redis CPU µs / delivery", format!("{c:.1}"));
        }
    }

    /// The bare-broadcast floor's figures, when measured.
    fn floor_rows(&self, t: &mut String) {
        if let Some(f) = &self.floor {
            if f.cpu_us_per_delivery > 0.0 {
                line(
                    t,
                    "floor CPU µs / delivery",
                    format!(
                        "{:.1} (hub is {:.2}× the floor)",
                        f.cpu_us_per_delivery, f.cpu_ratio
                    ),
                );
            }
            if f.delivery.count > 0 {
                line(t, "floor delivery latency (ms)", summary(&f.delivery));
            }
            if let Some(rate) = f.extra.get("last_good_rate") {
                line(t, "floor last_good_rate", rate.to_string());
            }
            line(
                t,
                "floor RSS",
                format!(
                    "peak {} KiB, {:.1} KiB/conn{}",
                    f.peak_rss_kib,
                    f.kib_per_connection,
                    if f.violation_count > 0 {
                        " (VIOLATIONS)"
                    } else {
                        ""
                    }
                ),
            );
        }
    }

    /// The load generator, errors, the scenario's own figures and the verdict.
    fn extra_rows(&self, t: &mut String) {
        line(
            t,
            "load generator CPU s",
            format!(
                "{:.2} (load average {})",
                self.loadgen_cpu_seconds, self.loadavg
            ),
        );
        line(
            t,
            "reads sent / errors / 429",
            format!(
                "{} / {} / {}",
                self.reads_sent, self.errors, self.rate_limited
            ),
        );
        if let Some(extra) = self.extra.as_object() {
            for (k, v) in extra {
                let shown = match v {
                    serde_json::Value::Number(n) => match n.as_f64() {
                        Some(f) if n.is_f64() => format!("{f:.3}"),
                        _ => n.to_string(),
                    },
                    serde_json::Value::Array(a) if a.len() > 4 => {
                        format!("({} entries, see JSON)", a.len())
                    }
                    serde_json::Value::Null => continue,
                    other => other.to_string(),
                };
                line(t, k, shown);
            }
        }
        line(
            t,
            "correctness",
            if self.ok() {
                "no loss, no duplicate, no reorder".into()
            } else {
                format!(
                    "{} VIOLATIONS",
                    self.violation_count.max(self.violations.len() as u64)
                )
            },
        );
    }

    /// Writes `<dir>/<name>.json`, `<name>.md`, `<name>-timeline.svg`, `<name>-distribution.svg`.
    pub fn write(&self, dir: &Path, name: &str) -> Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join(format!("{name}.json")),
            serde_json::to_string_pretty(self)?,
        )?;
        let timeline = format!("{name}-timeline.svg");
        let dist = format!("{name}-distribution.svg");
        self.timeline_chart(&dir.join(&timeline))?;
        self.distribution_chart(&dir.join(&dist))?;
        let mut md = format!("# yui-loadtest: {} on {}\n\n", self.scenario, self.target);
        md.push_str(&format!("Parameters: `{}`\n\n", self.params));
        md.push_str(&self.table());
        md.push_str(&format!("\n![delivery latency over time]({timeline})\n\n![delivery latency distribution]({dist})\n"));
        if !self.violations.is_empty() {
            md.push_str("\n## Violations (first 50)\n\n");
            for v in &self.violations {
                md.push_str(&format!(
                    "- {} in `{}` (client {}): {}\n",
                    v.kind, v.room, v.client, v.detail
                ));
            }
        }
        if !self.extra.is_null() {
            md.push_str(&format!(
                "\n```json\n{}\n```\n",
                serde_json::to_string_pretty(&self.extra)?
            ));
        }
        let path = dir.join(format!("{name}.md"));
        std::fs::write(&path, md)?;
        Ok(path)
    }

    fn timeline_chart(&self, path: &Path) -> Result<()> {
        let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
        let max_x = self.timeline.last().map(|t| t.0 + 1).unwrap_or(1) as f64;
        let max_y = self.timeline.iter().map(|t| t.2).fold(1.0f64, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .caption("delivery latency per second (ms)", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..max_x, 0f64..max_y)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_desc("seconds since start")
            .y_desc("ms")
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        chart
            .draw_series(LineSeries::new(
                self.timeline.iter().map(|t| (t.0 as f64, t.2)),
                &RED,
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label("p99")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED));
        chart
            .draw_series(LineSeries::new(
                self.timeline.iter().map(|t| (t.0 as f64, t.1)),
                &BLUE,
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label("p50")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE));
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    }

    fn distribution_chart(&self, path: &Path) -> Result<()> {
        let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
        let max_x = self.distribution.iter().map(|d| d.0).fold(1.0f64, f64::max) * 1.05;
        let mut chart = ChartBuilder::on(&root)
            .caption("delivery latency distribution", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..max_x, 0f64..100f64)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_desc("latency (ms)")
            .y_desc("percentile")
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        chart
            .draw_series(LineSeries::new(self.distribution.iter().copied(), &BLUE))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        chart
            .draw_series(
                self.distribution
                    .iter()
                    .map(|p| Circle::new(*p, 3, BLUE.filled())),
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    }
}

fn line(t: &mut String, k: &str, v: String) {
    t.push_str(&format!("| {k:<28} | {v:<44} |\n"));
}

fn summary(x: &Summary) -> String {
    format!(
        "p50 {:.2} p90 {:.2} p99 {:.2} p99.9 {:.2} max {:.2}",
        x.p50_ms, x.p90_ms, x.p99_ms, x.p999_ms, x.max_ms
    )
}
