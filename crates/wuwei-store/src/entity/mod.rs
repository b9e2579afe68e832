//! sea-orm entities: one module per table. These are storage shapes, not the domain's types;
//! the functions in the parent modules convert between the two.

pub mod api_token;
pub mod app_user;
pub mod attachment;
pub mod audit_head;
pub mod audit_log;
pub mod case;
pub mod case_event;
pub mod case_reporter;
pub mod category;
pub mod city;
pub mod deadline_policy;
pub mod handling_unit;
pub mod household;
pub mod idempotency;
pub mod inbox;
pub mod notification;
pub mod region;
pub mod resident;
pub mod role_binding;
pub mod routing_rule;
pub mod session;
pub mod supervision;
pub mod unit_member;
