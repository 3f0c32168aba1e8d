//! The axum router, the shared state, the tower layers and graceful shutdown.
