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

#[cfg(test)]
mod tests {
    use super::*;

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
