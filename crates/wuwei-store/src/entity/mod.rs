//! sea-orm entities: one module per table. These are storage shapes, not the domain's types;
//! the functions in the parent modules convert between the two.

pub mod api_token;
pub mod app_user;
pub mod audit_head;
pub mod audit_log;
pub mod city;
pub mod household;
pub mod region;
pub mod resident;
pub mod role_binding;
pub mod session;
