//! Helpers shared by integration tests.
#![allow(dead_code)] // each test crate uses a part

pub mod compare;
#[cfg(feature = "http")]
pub mod fake;
pub mod logs;
pub mod preview;
/// What importing the bundled sample org must give (generated with it).
#[path = "../../src/source/sample/manifest.rs"]
pub mod sample_manifest;
