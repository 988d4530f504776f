//! What a line chart plots, as page state computes it.

/// One line: a name and its (x, y) points, x ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}
