pub mod not_built;
pub mod overview;
