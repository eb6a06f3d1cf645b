//! The `backend` role (work in progress).

pub mod config;
