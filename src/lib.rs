// The handlers' futures nest deeply: proving them `Send` takes the trait solver past 128 steps.
#![recursion_limit = "256"]
//! Portcullis: a forward-auth decision service.
//!
//! A request travels one straight line through these modules:
//! [`origin`] (the original request) -> [`rules`] (first matching rule) -> [`authn`] (credential to
//! identity) -> [`authz`] (the rule's requirements) -> [`decision`] (the pure verdict) ->
//! [`answer`] (the HTTP answer for the calling proxy). [`server`] wires them to HTTP; [`login`] runs the
//! browser login and [`session`] keeps its sessions.

pub mod answer;
pub mod authn;
pub mod authz;
pub mod cli;
pub mod config;
pub mod decision;
pub mod login;
pub mod memo;
pub mod metrics;
pub mod origin;
pub mod remote;
pub mod rules;
pub mod server;
pub mod session;
