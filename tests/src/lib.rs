//! shared helpers for the integration tests
