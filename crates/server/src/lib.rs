//! The whippet-server binary. Filled in by the server-core issue.
