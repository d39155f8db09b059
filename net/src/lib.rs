//! Acceptor, connection loop, framing and TLS. Filled in by the server-core issue.
