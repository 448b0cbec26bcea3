//! Yui hub: real-time messaging for the people who keep a town's residents living at home.
//!
//! # Layout
//! - `store`: the `Store` trait and its `sqlite` and `postgres` implementations.
//! - `bus`: the `Bus` trait and its `local` and `redis` implementations.

pub mod bus;
pub mod store;
