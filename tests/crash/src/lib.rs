//! End-to-end crash tests of `whippet-server`; the harness and the tests live in `tests/`.
