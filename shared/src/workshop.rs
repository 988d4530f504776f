//! Workshop mode: the workshop's questions as steps, each answered by an action the control
//! plane runs on the student's own lab, with what it measured (`GET /api/workshop`,
//! `POST /api/workshop/steps/{step}/{action}`, `GET /api/workshop/report?format=md|html|tar`).

use serde::{Deserialize, Serialize};

/// The whole workshop as the page shows it: every step in the workshop's order, with its latest
/// result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Workshop {
    /// The steps, Part A Q1 first.
    pub steps: Vec<Step>,
    /// How many steps have a result that passed.
    pub passed: usize,
    /// The step whose action is running now (one runs at a time), if any.
    pub running: Option<String>,
}

/// One question of the workshop and what answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Its id in the routes (`a1`, `b34`, ...).
    pub id: String,
    /// The workshop's label (`Part A · Q1`).
    pub label: String,
    /// Its title (`Predictive APIs`).
    pub title: String,
    /// What the question asks, in the lab's words.
    pub asks: String,
    /// The actions that answer it (one or two).
    pub actions: Vec<StepAction>,
    /// The latest result of any of its actions, kept across reloads and lab restarts; `null`
    /// when the step was never run.
    pub result: Option<StepResult>,
}

/// An action that answers a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StepAction {
    /// Its id in `POST /api/workshop/steps/{step}/{action}`.
    pub id: String,
    /// The button's words.
    pub label: String,
    /// What it does to the lab, one sentence (it may kill a process or change a stake).
    pub does: String,
}

/// What one run of a step's action measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StepResult {
    /// The step it answers.
    pub step: String,
    /// The action that ran.
    pub action: String,
    /// When it finished, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// How long it ran, in milliseconds.
    pub took_ms: u64,
    /// Whether the lab behaved as the question expects.
    pub passed: bool,
    /// The answer, one or two sentences, with the figures in it.
    pub verdict: String,
    /// The figures behind it: (what, value).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<String>>))]
    pub measurements: Vec<(String, String)>,
    /// The requests it made that a student can make again, in order, with what came back.
    pub requests: Vec<Exchange>,
    /// The figure that shows the answer, when one helps.
    pub chart: Option<Chart>,
    /// The recording of the run, for the scenarios that record themselves
    /// (`/debugger/?run=<id>`).
    pub recording: Option<String>,
}

/// A request made to a service and its answer, as a curl command can repeat it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Exchange {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The full URL.
    pub url: String,
    /// The JSON body sent, if any.
    pub body: Option<String>,
    /// The answer's status (0: no answer, e.g. the connection was refused).
    pub status: u16,
    /// The start of the answer's body (at most 400 characters).
    pub answer: String,
}

impl Exchange {
    /// The curl command that makes this request again.
    pub fn curl(&self) -> String {
        let mut command = String::from("curl -s");
        if self.method != "GET" {
            command.push_str(&format!(" -X {}", self.method));
        }
        command.push_str(&format!(" '{}'", self.url));
        if let Some(body) = &self.body {
            command.push_str(" -H 'content-type: application/json'");
            command.push_str(&format!(" -d '{}'", body.replace('\'', r"'\''")));
        }
        command
    }
}

/// A chart: bars (one value per label) or lines (points over x).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Chart {
    /// What it shows.
    pub title: String,
    /// The unit of the values (y).
    pub unit: String,
    /// The unit of x, for lines (empty for bars).
    pub x_unit: String,
    /// The bars, for a bar chart.
    pub bars: Vec<Bar>,
    /// The lines, for a line chart.
    pub lines: Vec<Line>,
}

/// One bar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Bar {
    /// Its label.
    pub label: String,
    /// Its value.
    pub value: f64,
}

/// One line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Line {
    /// Its name in the legend.
    pub name: String,
    /// (x, y) in order of x.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<f64>>))]
    pub points: Vec<(f64, f64)>,
}

impl Chart {
    /// The chart's numbers in words (a chart's `alt`, its SVG's `<title>`): `Accuracy: A 97.8 %,
    /// B 95.6 %`; a line by where it starts and ends.
    pub fn summary(&self) -> String {
        let with_unit =
            |value: f64| format!("{} {}", number(value), self.unit).trim_end().to_owned();
        let parts: Vec<String> = if self.bars.is_empty() {
            self.lines
                .iter()
                .map(|line| match (line.points.first(), line.points.last()) {
                    (Some(first), Some(last)) => {
                        format!(
                            "{} from {} to {}",
                            line.name,
                            with_unit(first.1),
                            with_unit(last.1)
                        )
                    }
                    _ => format!("{} no points", line.name),
                })
                .collect()
        } else {
            self.bars.iter().map(|bar| format!("{} {}", bar.label, with_unit(bar.value))).collect()
        };
        format!("{}: {}", self.title, parts.join(", "))
    }
}

impl StepResult {
    /// The word its badge says: `done` or `failed`.
    pub fn word(&self) -> &'static str {
        if self.passed {
            "done"
        } else {
            "failed"
        }
    }
}

impl Step {
    /// The label of the action that produced `result` (its id if the step no longer has it).
    pub fn action_label<'a>(&'a self, result: &'a StepResult) -> &'a str {
        self.actions.iter().find(|a| a.id == result.action).map_or(&result.action, |a| &a.label)
    }
}

/// A number as people write it: at most two decimals, no trailing zeros.
pub fn number(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The civil date and time (UTC) of `ms` since the Unix epoch: (year, month, day, h, m, s).
/// Howard Hinnant's `civil_from_days`.
fn civil(ms: u64) -> (i64, i64, i64, u64, u64, u64) {
    let seconds = ms / 1000;
    let (days, rest) = ((seconds / 86_400) as i64, seconds % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rest / 3_600, rest % 3_600 / 60, rest % 60)
}

/// `2026-12-07 21:03:05 UTC`, as the page and the report write a time.
pub fn utc(ms: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC")
}

/// `2026-12-07T21:03:05Z`: the `datetime` of a `<time>`.
pub fn iso(ms: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `850 ms`, `12.4 s`.
pub fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_says_its_numbers_in_words() {
        let bars = Chart {
            title: "Accuracy".into(),
            unit: "%".into(),
            x_unit: String::new(),
            bars: vec![
                Bar { label: "A".into(), value: 97.777 },
                Bar { label: "B".into(), value: 95.0 },
            ],
            lines: Vec::new(),
        };
        assert_eq!(bars.summary(), "Accuracy: A 97.78 %, B 95 %");
        let lines = Chart {
            title: "C's balance".into(),
            unit: "stake".into(),
            x_unit: "event".into(),
            bars: Vec::new(),
            lines: vec![
                Line { name: "C".into(), points: vec![(1.0, 1000.0), (5.0, 40.5)] },
                Line { name: "D".into(), points: Vec::new() },
            ],
        };
        assert_eq!(lines.summary(), "C's balance: C from 1000 stake to 40.5 stake, D no points");
        let unitless = Chart { unit: String::new(), ..bars };
        assert_eq!(unitless.summary(), "Accuracy: A 97.78, B 95");
    }

    #[test]
    fn times_are_utc_dates_and_durations_people_read() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_796_684_585_999), "2026-12-07 23:03:05 UTC");
        assert_eq!(iso(1_796_684_585_000), "2026-12-07T23:03:05Z");
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_449), "12.4 s");
        assert_eq!(number(97.777), "97.78");
        assert_eq!(number(12.0), "12");
    }

    #[test]
    fn a_curl_command_repeats_the_request_with_its_body_quoted() {
        let exchange = Exchange {
            method: "POST".into(),
            url: "http://localhost:3001/products".into(),
            body: Some(r#"{"name":"O'Brien"}"#.into()),
            status: 201,
            answer: String::new(),
        };
        assert_eq!(
            exchange.curl(),
            r#"curl -s -X POST 'http://localhost:3001/products' -H 'content-type: application/json' -d '{"name":"O'\''Brien"}'"#
        );
        let get = Exchange { method: "GET".into(), body: None, ..exchange };
        assert_eq!(get.curl(), "curl -s 'http://localhost:3001/products'");
    }
}
