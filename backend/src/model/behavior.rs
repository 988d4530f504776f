//! How a model's [`Behavior`] turns its honest answer into the one it gives — pure, with the
//! randomness and the clock passed in.

use std::time::Duration;

use rand::Rng;
use shared::models::Behavior;

/// How long a `slow` model takes: longer than the meta-model waits for an answer.
pub const SLOW: Duration = Duration::from_secs(2);
/// A `flapping` model answers for half of each period and fails for the other half.
pub const FLAP_PERIOD: Duration = Duration::from_secs(4);

/// What the model does with a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Answer {
    Give(usize, [f64; 3]),
    /// Answer, but only after waiting.
    Late(Duration, usize, [f64; 3]),
    /// Fail with 503 and this reason.
    Fail(&'static str),
}

/// Apply `behavior` to the honest answer; `uptime` drives flapping.
pub fn apply(
    behavior: Behavior,
    honest: (usize, [f64; 3]),
    rng: &mut impl Rng,
    uptime: Duration,
) -> Answer {
    let (class, p) = honest;
    match behavior {
        Behavior::Honest => Answer::Give(class, p),
        Behavior::Random => {
            let raw: [f64; 3] = [
                rng.random::<f64>() + 1e-9,
                rng.random::<f64>() + 1e-9,
                rng.random::<f64>() + 1e-9,
            ];
            let total: f64 = raw.iter().sum();
            let p = raw.map(|v| v / total);
            let class = (0..3).fold(0, |best, c| if p[c] > p[best] { c } else { best });
            Answer::Give(class, p)
        }
        Behavior::Inverted => {
            // The next class gets the honest answer's confidence: confidently wrong.
            let wrong = (class + 1) % 3;
            let mut rotated = [0.0; 3];
            for c in 0..3 {
                rotated[(c + 1) % 3] = p[c];
            }
            Answer::Give(wrong, rotated)
        }
        Behavior::Slow => Answer::Late(SLOW, class, p),
        Behavior::Flapping => {
            let phase = uptime.as_millis() % FLAP_PERIOD.as_millis();
            if phase < FLAP_PERIOD.as_millis() / 2 {
                Answer::Give(class, p)
            } else {
                Answer::Fail("flapping: failing for now, back in a moment")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const HONEST: (usize, [f64; 3]) = (2, [0.1, 0.2, 0.7]);

    #[test]
    fn each_behavior_does_what_it_says() {
        let mut rng = StdRng::seed_from_u64(1);
        let t = Duration::ZERO;
        assert_eq!(apply(Behavior::Honest, HONEST, &mut rng, t), Answer::Give(2, [0.1, 0.2, 0.7]));
        assert_eq!(
            apply(Behavior::Inverted, HONEST, &mut rng, t),
            Answer::Give(0, [0.7, 0.1, 0.2])
        );
        assert_eq!(
            apply(Behavior::Slow, HONEST, &mut rng, t),
            Answer::Late(SLOW, 2, [0.1, 0.2, 0.7])
        );
        assert_eq!(
            apply(Behavior::Flapping, HONEST, &mut rng, Duration::from_millis(100)),
            Answer::Give(2, [0.1, 0.2, 0.7])
        );
        assert!(matches!(
            apply(Behavior::Flapping, HONEST, &mut rng, Duration::from_millis(2_500)),
            Answer::Fail(_)
        ));
    }

    #[test]
    fn random_answers_are_valid_and_spread_over_classes() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut seen = [0u32; 3];
        for _ in 0..300 {
            let Answer::Give(class, p) = apply(Behavior::Random, HONEST, &mut rng, Duration::ZERO)
            else {
                panic!()
            };
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            assert!(p[class] >= p[0] && p[class] >= p[1] && p[class] >= p[2]);
            seen[class] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
    }
}
