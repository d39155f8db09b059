//! whippet-bench, the load generator. Filled in by the tools issue.
