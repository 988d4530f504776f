//! The three Iris classifiers, trained with linfa: a random forest (linfa-ensemble), a decision
//! tree (linfa-trees) and k nearest neighbours (a majority vote over linfa-nn's neighbours).
//!
//! Each gives class probabilities besides the class: the forest's share of trees voting each
//! class, the tree's class distribution of the training samples in the leaf, the neighbours'
//! shares. Note: linfa-trees 0.8 walks a `HashMap` while choosing splits, so between equally good
//! splits it may choose differently in each process; the forest and the tree can differ by a
//! sample or two of held-out accuracy between runs even with the fixed seed. k-NN is exact.

use std::collections::HashMap;

use linfa::prelude::*;
use linfa_ensemble::{RandomForest, RandomForestParams};
use linfa_nn::distance::L2Dist;
use linfa_nn::{LinearSearch, NearestNeighbour};
use linfa_trees::{DecisionTree, TreeNode};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rand08::rngs::StdRng;
use rand08::SeedableRng;

use crate::iris::{IrisSet, SEED};

/// Which algorithm a model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Algorithm {
    RandomForest,
    DecisionTree,
    Knn,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RandomForest => "random-forest",
            Self::DecisionTree => "decision-tree",
            Self::Knn => "knn",
        }
    }
}

const TREES: usize = 100;
const NEIGHBOURS: usize = 5;

/// A trained classifier.
pub enum Classifier {
    Forest(RandomForest<f64, usize>),
    Tree {
        tree: DecisionTree<f64, usize>,
        /// Training samples of each class per leaf (leaves keyed by their path from the root).
        leaves: HashMap<u64, [u32; 3]>,
    },
    Knn {
        records: Array2<f64>,
        targets: Array1<usize>,
    },
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Forest(_) => "Classifier::Forest",
            Self::Tree { .. } => "Classifier::Tree",
            Self::Knn { .. } => "Classifier::Knn",
        })
    }
}

fn shares(counts: [u32; 3]) -> [f64; 3] {
    let total: u32 = counts.iter().sum();
    if total == 0 {
        return [1.0 / 3.0; 3];
    }
    counts.map(|c| f64::from(c) / f64::from(total))
}

/// Highest count wins; ties go to the lower class index.
fn argmax(counts: &[u32; 3]) -> usize {
    (0..3).fold(0, |best, c| if counts[c] > counts[best] { c } else { best })
}

/// The leaf a sample reaches, and its path id (root 1, left child 2n, right child 2n + 1).
fn leaf_of<'a>(
    tree: &'a DecisionTree<f64, usize>,
    x: ArrayView1<f64>,
) -> (u64, &'a TreeNode<f64, usize>) {
    let (mut node, mut id) = (tree.root_node(), 1u64);
    while !node.is_leaf() {
        let (feature, threshold, _) = node.split();
        let left = x[feature] < threshold; // the rule linfa-trees predicts with
        id = 2 * id + u64::from(!left);
        match node.children()[usize::from(!left)].as_deref() {
            Some(child) => node = child,
            None => break,
        }
    }
    (id, node)
}

impl Classifier {
    pub fn train(algorithm: Algorithm, train: &IrisSet) -> Result<Self, Error> {
        Ok(match algorithm {
            Algorithm::RandomForest => Self::Forest(
                RandomForestParams::new_fixed_rng(
                    DecisionTree::params(),
                    StdRng::seed_from_u64(SEED),
                )
                .ensemble_size(TREES)
                .bootstrap_proportion(1.0)
                .feature_proportion(0.5)
                .fit(train)?,
            ),
            Algorithm::DecisionTree => {
                let tree = DecisionTree::params().fit(train)?;
                let mut leaves: HashMap<u64, [u32; 3]> = HashMap::new();
                for (x, &y) in train.records().rows().into_iter().zip(train.targets()) {
                    leaves.entry(leaf_of(&tree, x).0).or_default()[y.min(2)] += 1;
                }
                Self::Tree { tree, leaves }
            }
            Algorithm::Knn => {
                Self::Knn { records: train.records().clone(), targets: train.targets().clone() }
            }
        })
    }

    /// The class of one sample and the probability of each class.
    pub fn predict(&self, x: &[f64; 4]) -> (usize, [f64; 3]) {
        match self {
            Self::Forest(forest) => {
                let mut votes = [0u32; 3];
                let mut columns = [0.0f64; 4];
                // Each tree saw its own subset of the features.
                for (tree, features) in forest.models.iter().zip(&forest.model_features) {
                    for (j, &f) in features.iter().enumerate() {
                        columns[j] = x[f];
                    }
                    let Ok(view) =
                        ArrayView2::from_shape((1, features.len()), &columns[..features.len()])
                    else {
                        continue;
                    };
                    let class: Array1<usize> = tree.predict(&view);
                    votes[class[0].min(2)] += 1;
                }
                (argmax(&votes), shares(votes))
            }
            Self::Tree { tree, leaves } => {
                let (id, leaf) = leaf_of(tree, ArrayView1::from(x));
                let class = leaf.prediction().unwrap_or(0).min(2);
                let probabilities = leaves.get(&id).map_or_else(
                    || {
                        let mut one = [0.0; 3];
                        one[class] = 1.0;
                        one
                    },
                    |counts| shares(*counts),
                );
                (class, probabilities)
            }
            Self::Knn { records, targets } => {
                let mut votes = [0u32; 3];
                let mut nearest_class = None;
                // A linear search over 105 samples: cheaper than keeping an index (which would
                // borrow the records) and exact.
                if let Ok(index) = LinearSearch.from_batch(records, L2Dist) {
                    if let Ok(neighbours) = index.k_nearest(ArrayView1::from(x), NEIGHBOURS) {
                        for (_, row) in &neighbours {
                            votes[targets[*row].min(2)] += 1;
                        }
                        nearest_class = neighbours.first().map(|(_, row)| targets[*row].min(2));
                    }
                }
                let best = *votes.iter().max().unwrap_or(&0);
                // Ties go to the class of the nearest neighbour among the tied ones.
                let class =
                    nearest_class.filter(|c| votes[*c] == best).unwrap_or_else(|| argmax(&votes));
                (class, shares(votes))
            }
        }
    }

    /// Accuracy and confusion matrix (rows actual, columns predicted) on `test`.
    pub fn evaluate(&self, test: &[([f64; 4], usize)]) -> (f64, [[u32; 3]; 3]) {
        let mut matrix = [[0u32; 3]; 3];
        for (x, truth) in test {
            matrix[(*truth).min(2)][self.predict(x).0] += 1;
        }
        let right: u32 = (0..3).map(|c| matrix[c][c]).sum();
        (f64::from(right) / test.len().max(1) as f64, matrix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iris;

    #[test]
    fn every_algorithm_learns_iris() {
        let split = iris::split();
        let test = iris::rows(&split.test);
        for algorithm in [Algorithm::RandomForest, Algorithm::DecisionTree, Algorithm::Knn] {
            let model = Classifier::train(algorithm, &split.train).unwrap();
            let (accuracy, matrix) = model.evaluate(&test);
            assert!(accuracy >= 0.9, "{algorithm:?}: {accuracy}");
            assert_eq!(matrix.iter().flatten().sum::<u32>(), 45);
            let (class, p) = model.predict(&[5.1, 3.5, 1.4, 0.2]);
            assert_eq!(class, 0, "{algorithm:?}: a textbook setosa");
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            assert!(p[0] >= p[1] && p[0] >= p[2]);
        }
    }
}
