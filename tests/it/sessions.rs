//! Redis sessions (placeholder).
