//! The server's integration tests: one binary, a real server on port 0 per test, a fresh
//! database per test (SQLite, or PostgreSQL when WUWEI_TEST_DATABASE_URL is set), and a fake
//! clock. The same tests run on both backends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

mod attachments;
mod audit;
mod auth;
mod cards;
mod cases;
mod devices;
mod errors;
mod figures;
mod helpers;
mod intake;
mod mediation;
mod open311;
mod people;
mod points;
mod points_shop;
mod regions;
mod tokens;
mod web;
