pub mod not_built;
pub mod overview;
pub mod shop;
