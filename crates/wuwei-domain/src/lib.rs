//! The pure domain of wuwei: what a region, a role, a scope and an audit record are, and the
//! rules between them. No I/O and no clock: time is always a parameter, so every rule here can
//! be tested with any instant.

pub mod access;
pub mod audit;
pub mod case;
pub mod figures;
pub mod geo;
pub mod locate;
pub mod points;
pub mod region;
pub mod validate;
