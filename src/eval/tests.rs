//! Unit tests of exact evaluation.
