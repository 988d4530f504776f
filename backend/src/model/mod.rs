//! An Iris classifier (models A, B, C on 5001-5003): `GET /predict?sl=&sw=&pl=&pw=`, `GET /info`,
//! and `PUT /admin/behavior` to make it dishonest or unreliable at run time.
//!
//! Run one with `lab serve model --name A --algo random-forest --behavior honest`.

pub mod behavior;
pub mod classifier;
mod error;
mod serve;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::extract::{RawQuery, State};
use axum::Router;
use shared::models::{Behavior, ModelInfo, Prediction, SetBehavior, LABELS};
use shared::{ErrorBody, EventKind, ServiceKind};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::iris;
use crate::service::{guarded, ApiJson, EventBus, Service};
use behavior::Answer;
pub use classifier::{Algorithm, Classifier};
pub use error::ModelError;
pub use serve::{serve, ServeArgs};

/// A trained model and how it currently behaves; cheap to clone.
#[derive(Debug, Clone)]
pub struct Model {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    algorithm: Algorithm,
    classifier: Classifier,
    /// Honest accuracy and confusion matrix on the held-out split, measured at start.
    accuracy: f64,
    confusion: [[u32; 3]; 3],
    training_size: usize,
    test_size: usize,
    behavior: RwLock<Behavior>,
    started: Instant,
    events: EventBus,
}

impl Model {
    /// Train on the Iris training split and measure on the held-out split.
    pub fn train(
        name: &str,
        algorithm: Algorithm,
        behavior: Behavior,
        events: EventBus,
    ) -> Result<Self, linfa::Error> {
        let split = iris::split();
        let classifier = Classifier::train(algorithm, &split.train)?;
        let test = iris::rows(&split.test);
        let (accuracy, confusion) = classifier.evaluate(&test);
        tracing::info!(model = name, algorithm = algorithm.as_str(), accuracy, "trained");
        Ok(Self {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                algorithm,
                classifier,
                accuracy,
                confusion,
                training_size: iris::rows(&split.train).len(),
                test_size: test.len(),
                behavior: RwLock::new(behavior),
                started: Instant::now(),
                events,
            }),
        })
    }

    pub fn behavior(&self) -> Behavior {
        *self.inner.behavior.read().expect("behavior lock poisoned")
    }

    fn info(&self) -> ModelInfo {
        ModelInfo {
            model: self.inner.name.clone(),
            algorithm: self.inner.algorithm.as_str().to_owned(),
            behavior: self.behavior(),
            training_size: self.inner.training_size,
            test_size: self.inner.test_size,
            accuracy: self.inner.accuracy,
            confusion_matrix: self.inner.confusion,
            labels: LABELS.map(str::to_owned),
        }
    }
}

/// The four measurements, in centimetres, read from the query string with a clear error for
/// each way a parameter can be wrong.
pub fn parse_measurements(query: Option<&str>) -> Result<[f64; 4], String> {
    const NAMES: [(&str, &str); 4] = [
        ("sl", "sepal length"),
        ("sw", "sepal width"),
        ("pl", "petal length"),
        ("pw", "petal width"),
    ];
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| format!("unreadable query string: {e}"))?;
    let mut given: HashMap<String, String> = HashMap::new();
    for (key, value) in pairs {
        if !NAMES.iter().any(|(n, _)| *n == key) {
            return Err(format!("unknown parameter {key:?}: give sl, sw, pl and pw (in cm)"));
        }
        if given.insert(key.clone(), value).is_some() {
            return Err(format!("parameter {key} given twice"));
        }
    }
    let mut x = [0.0; 4];
    for (i, (name, what)) in NAMES.iter().enumerate() {
        let text =
            given.get(*name).ok_or_else(|| format!("missing parameter {name} ({what}, in cm)"))?;
        let value: f64 = text
            .trim()
            .parse()
            .map_err(|_| format!("{name} ({what}) must be a number, got {text:?}"))?;
        if !value.is_finite() {
            return Err(format!("{name} ({what}) must be a finite number, got {text:?}"));
        }
        if !(0.0..=50.0).contains(&value) {
            return Err(format!("{name} ({what}) must be between 0 and 50 cm, got {value}"));
        }
        x[i] = value;
    }
    Ok(x)
}

/// The model's router with the plumbing every service has.
pub fn router(service: Service, model: Model) -> Router {
    let admin = guarded(OpenApiRouter::new().routes(routes!(set_behavior)));
    let routes = OpenApiRouter::new().routes(routes!(predict)).routes(routes!(info)).merge(admin);
    service.into_router(routes.with_state(model))
}

pub fn service(name: &str) -> Service {
    Service::new(name, ServiceKind::Model)
}

/// Classify one iris flower.
#[utoipa::path(get, path = "/predict", tag = "model",
    params(("sl" = f64, Query, minimum = 0, maximum = 50, description = "sepal length, cm"), ("sw" = f64, Query, minimum = 0, maximum = 50, description = "sepal width, cm"), ("pl" = f64, Query, minimum = 0, maximum = 50, description = "petal length, cm"), ("pw" = f64, Query, minimum = 0, maximum = 50, description = "petal width, cm")),
    responses(
        (status = 200, body = Prediction),
        (status = 400, description = "A parameter is missing, not a number, or absurd", body = ErrorBody),
        (status = 503, description = "The model is flapping", body = ErrorBody),
    ))]
async fn predict(
    State(model): State<Model>,
    RawQuery(query): RawQuery,
) -> Result<ApiJson<Prediction>, ModelError> {
    let x = parse_measurements(query.as_deref()).map_err(ModelError::BadMeasurements)?;
    let honest = model.inner.classifier.predict(&x);
    let answer =
        behavior::apply(model.behavior(), honest, &mut rand::rng(), model.inner.started.elapsed());
    let (class, probabilities) = match answer {
        Answer::Give(class, p) => (class, p),
        Answer::Late(delay, class, p) => {
            tokio::time::sleep(delay).await;
            (class, p)
        }
        Answer::Fail(why) => return Err(ModelError::Unavailable(why)),
    };
    Ok(ApiJson(Prediction {
        model: model.inner.name.clone(),
        prediction: class,
        label: LABELS[class].to_owned(),
        probabilities,
    }))
}

/// Algorithm, training size, held-out accuracy, confusion matrix and current behaviour.
#[utoipa::path(get, path = "/info", tag = "model", responses((status = 200, body = ModelInfo)))]
async fn info(State(model): State<Model>) -> ApiJson<ModelInfo> {
    ApiJson(model.info())
}

/// Change how the model answers, now (`{"behavior": "random"}`): a simulated bad contributor.
#[utoipa::path(put, path = "/admin/behavior", tag = "model", request_body = SetBehavior,
    responses((status = 200, description = "The model's info, with the new behaviour", body = ModelInfo)))]
async fn set_behavior(
    State(model): State<Model>,
    ApiJson(set): ApiJson<SetBehavior>,
) -> ApiJson<ModelInfo> {
    *model.inner.behavior.write().expect("behavior lock poisoned") = set.behavior;
    tracing::info!(behavior = set.behavior.as_str(), "behavior changed");
    model.inner.events.emit(EventKind::Info, format!("behavior set to {}", set.behavior.as_str()));
    ApiJson(model.info())
}

#[cfg(test)]
mod tests {
    use super::parse_measurements;

    #[test]
    fn every_bad_parameter_is_named() {
        assert_eq!(
            parse_measurements(Some("sl=5.1&sw=3.5&pl=1.4&pw=0.2")),
            Ok([5.1, 3.5, 1.4, 0.2])
        );
        let err = |q: &str| parse_measurements(Some(q)).unwrap_err();
        assert!(err("sw=3.5&pl=1.4&pw=0.2").contains("missing parameter sl"));
        assert!(err("sl=abc&sw=3.5&pl=1.4&pw=0.2").contains("sl (sepal length) must be a number"));
        assert!(err("sl=NaN&sw=3.5&pl=1.4&pw=0.2").contains("finite"));
        assert!(err("sl=inf&sw=3.5&pl=1.4&pw=0.2").contains("finite"));
        assert!(err("sl=5&sw=-1&pl=1.4&pw=0.2").contains("sw (sepal width) must be between"));
        assert!(err("sl=5&sw=1&pl=1e9&pw=0.2").contains("pl (petal length) must be between"));
        assert!(err("sl=5&sw=1&pl=1&pw=0.2&x=1").contains("unknown parameter \"x\""));
        assert!(err("sl=5&sl=6&sw=1&pl=1&pw=0.2").contains("twice"));
        assert!(parse_measurements(None).unwrap_err().contains("missing parameter sl"));
    }
}
