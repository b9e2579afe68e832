//! HTTP handlers, one module per resource. Handlers parse, authorize, call the store, and
//! shape the answer; rules live in the domain crate and SQL in the store crate.

pub mod attachments;
pub mod audit;
pub mod cameras;
pub mod cards;
pub mod cases;
pub mod devices;
pub mod figures;
pub mod households;
pub mod inbox;
pub mod land_layers;
pub mod mediation;
pub mod one_click;
pub mod open311;
pub mod ops;
pub mod points;
pub mod points_figures;
pub mod points_shop;
pub mod regions;
pub mod tokens;
pub mod users;
