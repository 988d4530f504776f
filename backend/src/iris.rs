//! The Iris data set, embedded in the program (linfa-datasets' copy, compiled in with
//! `include_bytes!`: nothing is downloaded), and its fixed-seed stratified train/test split —
//! shared by the models (which train on one part) and the meta-model (which evaluates on the
//! other).

use linfa::Dataset;
use ndarray::{Array1, Array2, Axis, Ix1};
use rand08::rngs::StdRng;
use rand08::seq::SliceRandom;
use rand08::SeedableRng;

/// The seed of the split (and of the random forest).
pub const SEED: u64 = 42;
/// Share of each class held out for testing.
pub const TEST_SHARE: f64 = 0.3;

pub type IrisSet = Dataset<f64, usize, Ix1>;

/// The train and test parts.
#[derive(Debug, Clone)]
pub struct Split {
    pub train: IrisSet,
    pub test: IrisSet,
}

/// Split stratified by class: each class gives the same share to the test part, chosen with a
/// fixed seed, so every process (model or meta-model) holds out the very same samples.
pub fn split() -> Split {
    let iris: IrisSet = linfa_datasets::iris();
    let mut rng = StdRng::seed_from_u64(SEED);
    let targets = iris.targets();
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for class in 0..3 {
        let mut rows: Vec<usize> = (0..targets.len()).filter(|&i| targets[i] == class).collect();
        rows.shuffle(&mut rng);
        let held_out = (rows.len() as f64 * TEST_SHARE).round() as usize;
        test.extend_from_slice(&rows[..held_out]);
        train.extend_from_slice(&rows[held_out..]);
    }
    train.shuffle(&mut rng);
    let take = |rows: &[usize]| -> IrisSet {
        Dataset::new(iris.records().select(Axis(0), rows), targets.select(Axis(0), rows))
    };
    Split { train: take(&train), test: take(&test) }
}

/// The samples of a set as plain rows, with their classes.
pub fn rows(set: &IrisSet) -> Vec<([f64; 4], usize)> {
    let records: &Array2<f64> = set.records();
    let targets: &Array1<usize> = set.targets();
    records
        .rows()
        .into_iter()
        .zip(targets.iter())
        .map(|(r, &t)| ([r[0], r[1], r[2], r[3]], t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use linfa::prelude::Records;

    #[test]
    fn the_split_is_stratified_and_the_same_every_time() {
        let a = split();
        assert_eq!((a.train.nsamples(), a.test.nsamples()), (105, 45));
        for class in 0..3 {
            assert_eq!(a.test.targets().iter().filter(|&&t| t == class).count(), 15);
        }
        let b = split();
        assert_eq!(
            rows(&a.test),
            rows(&b.test),
            "a fixed seed: the same held-out samples in every process"
        );
    }
}
