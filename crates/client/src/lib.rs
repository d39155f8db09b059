//! Whippet's own monoio client for both Iggy dialects, used by the CLI and the bench. Filled in by the tools issue.
