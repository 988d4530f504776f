//! Part A: the Iris classifiers (5001-5003) and the stake-weighted meta-model (6001).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The three Iris classes, by index.
pub const LABELS: [&str; 3] = ["setosa", "versicolor", "virginica"];

/// `GET /predict?sl=5.1&sw=3.5&pl=1.4&pw=0.2` of a model: the workshop's `model` and
/// `prediction` fields, plus the label and class probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Prediction {
    /// The answering model's name (`A`, `B`, `C`), as `--model-name` set it.
    pub model: String,
    /// Class index: 0 setosa, 1 versicolor, 2 virginica.
    pub prediction: usize,
    /// The class's name: one of [`LABELS`], `setosa` for 0.
    pub label: String,
    /// One probability per class, summing to 1.
    pub probabilities: [f64; 3],
}

/// How a model answers: honestly, or in one of the ways a bad contributor might.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Behavior {
    /// The class the trained model predicts, with its probabilities.
    #[default]
    Honest,
    /// A random class with random probabilities.
    Random,
    /// Always a class other than its honest answer (always wrong where it would be right).
    Inverted,
    /// Honest, but after a delay longer than the meta-model waits.
    Slow,
    /// Honest and failing (503) by turns, a few seconds each.
    Flapping,
}

impl Behavior {
    /// Every behaviour, in the order the dashboard offers them.
    pub const ALL: [Behavior; 5] =
        [Self::Honest, Self::Random, Self::Inverted, Self::Slow, Self::Flapping];

    /// The behaviour's name on the wire and on the command line (`--behavior inverted`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Honest => "honest",
            Self::Random => "random",
            Self::Inverted => "inverted",
            Self::Slow => "slow",
            Self::Flapping => "flapping",
        }
    }
}

impl std::str::FromStr for Behavior {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|b| b.as_str() == s).ok_or_else(|| {
            format!("unknown behavior {s:?}: one of honest, random, inverted, slow, flapping")
        })
    }
}

/// `PUT /admin/behavior` of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetBehavior {
    /// How the model answers from now on (until set again or restarted).
    pub behavior: Behavior,
}

/// `GET /info` of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    /// The model's name (`A`), as in its predictions.
    pub model: String,
    /// `random-forest`, `decision-tree`, `knn`.
    pub algorithm: String,
    /// How it answers right now (`PUT /admin/behavior` changes it).
    pub behavior: Behavior,
    /// Iris rows it was trained on: the stratified 70% of the fixed-seed split.
    pub training_size: usize,
    /// Held-out rows `accuracy` and `confusionMatrix` were measured on (the other 30%).
    pub test_size: usize,
    /// Accuracy of the honest model on the held-out split.
    pub accuracy: f64,
    /// Rows: actual class; columns: predicted class.
    pub confusion_matrix: [[u32; 3]; 3],
    /// The class names, by index: [`LABELS`].
    pub labels: [String; 3],
}

/// One model's part in a meta-model prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Vote {
    /// The model's name (`A`).
    pub model: String,
    /// `None` when the model failed or timed out (`error` says which).
    pub prediction: Option<usize>,
    /// The probabilities it gave with its class; `None` when it gave none.
    pub probabilities: Option<[f64; 3]>,
    /// Why it has no vote counted: the transport error, its error status, or the timeout.
    pub error: Option<String>,
    /// Weight in [0, 1] and balance when the vote was counted.
    pub weight: f64,
    /// Its balance when the vote was counted.
    pub balance: f64,
    /// Voting power: weight × balance (an ejected model is not asked, so it has no vote).
    pub power: f64,
    /// Whether its class is the consensus.
    pub agreed: bool,
}

/// `GET /predict` of the meta-model: the lab's fields (`prediction`, `label`, `support`, every
/// vote) and the workshop's (`consensus_prediction`, and `individual_predictions` and
/// `updated_balances` keyed `model_<name>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MetaPrediction {
    /// The consensus class.
    pub prediction: usize,
    /// The consensus class's name: one of [`LABELS`].
    pub label: String,
    /// Share of the voting power behind the consensus class.
    pub support: f64,
    /// Every model asked, with its answer, power and whether it agreed.
    pub votes: Vec<Vote>,
    /// The workshop's name for `prediction`: the consensus class.
    #[serde(rename = "consensus_prediction")]
    pub consensus_prediction: usize,
    /// The workshop's `{"model_A": 0, ...}`: the class each model asked answered; `null` for a
    /// model that was asked and failed or timed out. An ejected model is not asked, and is not
    /// here (it is in `updated_balances`).
    #[serde(rename = "individual_predictions")]
    pub individual_predictions: BTreeMap<String, Option<usize>>,
    /// The workshop's `{"model_A": {"balance": ..., "weight": ...}, ...}`: every model
    /// `GET /balances` lists, with its stake once this prediction is settled. Predictions are
    /// settled in batches (every 100 ms, and before any read of balances), so these are the
    /// ledger's numbers with every answer not settled yet — this one, and any answered
    /// meanwhile — settled as the next batch will settle them: what `GET /balances` shows after
    /// that settlement, unless more predictions join the batch first.
    #[serde(rename = "updated_balances")]
    pub updated_balances: BTreeMap<String, Balance>,
}

/// A model's stake, as the workshop's `balances.json` holds it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Balance {
    /// Its stake in units: deposit, plus rewards, minus slashes.
    pub balance: f64,
    /// In [0, 1]; voting power is weight × balance.
    pub weight: f64,
}

/// `GET /balances` of the meta-model (and `updated_balances`), the workshop's `balances.json`:
/// `{"model_A": {"balance": ..., "weight": ...}, ...}`, every model not withdrawn (ejected ones
/// included), keyed by [`workshop_key`].
pub type Balances = BTreeMap<String, Balance>;

/// The workshop's key for a model: `model_A` for the model named `A` (and `model_D` for one
/// registered later as `D`).
pub fn workshop_key(name: &str) -> String {
    format!("model_{name}")
}

/// Where a model stands with the meta-model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ModelState {
    /// Voting, with its stake as weight.
    Active,
    /// Its balance fell under the floor: no longer asked.
    Ejected,
    /// Withdrawn by its contributor (balance paid out).
    Withdrawn,
}

/// What a ledger event did to a model's balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum LedgerKind {
    /// The stake put down at registration.
    Deposit,
    /// Paid for agreeing with the consensus (or the truth, in `POST /evaluate`).
    Reward,
    /// Taken for disagreeing.
    Slash,
    /// The balance fell under the floor: the model is ejected.
    Eject,
    /// The contributor took the balance out.
    Withdraw,
}

named!(ModelState { Active => "active", Ejected => "ejected", Withdrawn => "withdrawn" });
named!(LedgerKind {
    Deposit => "deposit",
    Reward => "reward",
    Slash => "slash",
    Eject => "eject",
    Withdraw => "withdraw",
});

/// A model registered with the meta-model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ModelEntry {
    /// The meta-model's id for it: `DELETE /models/{id}` withdraws it.
    pub id: u64,
    /// Its name, unique among the meta-model's models (`A`; keyed `model_A` by the workshop).
    pub name: String,
    /// Where the meta-model asks it: `GET {url}/predict`.
    pub url: String,
    /// The stake put down when it was registered.
    pub deposit: f64,
    /// Its stake now; under 500 it is ejected.
    pub balance: f64,
    /// In [0, 1]: the moving average of its agreement (α = 0.05 per answer).
    pub weight: f64,
    /// Whether it votes, was ejected, or was withdrawn.
    pub state: ModelState,
}

/// `POST /models`: register a model by URL with a deposit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterModel {
    /// 1 to 40 letters, digits, `-` or `_`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]{1,40}$"))]
    pub name: String,
    /// Where the model answers `GET /predict`: `http://host:port`.
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = "^https?://[A-Za-z0-9.-]+(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?/?$"
        )
    )]
    pub url: String,
    /// The stake it puts down: from the ejection floor (500) to 1e9; default 1000.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 500.0, maximum = 1e9))]
    pub deposit: Option<f64>,
}

/// One entry of the stake ledger: every balance change has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LedgerEvent {
    /// The event's place in the ledger, increasing: `GET /ledger/events?after=<id>` pages on.
    pub id: u64,
    /// When it was written, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The model's name (`A`).
    pub model: String,
    /// Settling against the truth in `POST /evaluate` writes rewards and slashes too.
    pub kind: LedgerKind,
    /// Change of balance (negative for a slash or a withdrawal).
    pub amount: f64,
    /// The model's balance right after this event.
    pub balance: f64,
    /// The model's weight right after this event.
    pub weight: f64,
    /// Why, for people (`agreed with the consensus in 3 of 3 answers`, `withdrew 1012.50`).
    pub reason: String,
    /// The settlement (`GET /ledger/batches`) a reward, slash or ejection belongs to; `None`
    /// for deposits and withdrawals.
    #[serde(default)]
    pub batch: Option<u64>,
}

/// One settlement of the stake ledger (`GET /ledger/batches`): a batch of answers settled in
/// the one transaction that wrote its events. Its totals let a reader check that no batch was
/// half applied: its reward and slash events add up to them, and `rewarded + unpaid` is
/// `emissions` times the emission per prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LedgerBatch {
    /// The settlement's id, increasing; the `batch` of its events.
    pub id: u64,
    /// When it was committed, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What the answers were scored against: `the consensus`, or `the truth` (`POST /evaluate`).
    pub against: String,
    /// How many times the emission was shared out: once per prediction (per held-out sample
    /// some model got right).
    pub emissions: u64,
    /// The sum of the batch's reward events.
    pub rewarded: f64,
    /// The sum of the batch's slashes (positive).
    pub slashed: f64,
    /// Emission earned by models withdrawn before the batch was settled: paid to nobody.
    pub unpaid: f64,
}

/// `POST /evaluate`: accuracy of every model and of the consensus on the held-out split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    /// Held-out samples scored (45: 30% of the 150 Iris rows).
    pub samples: usize,
    /// (model, accuracy); a model that failed a sample counts it wrong.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<serde_json::Value>>))]
    pub models: Vec<(String, f64)>,
    /// Accuracy of the stake-weighted consensus on the same samples, in [0, 1].
    pub consensus: f64,
}
