//! The whippet operator CLI. Filled in by the tools issue.
