//! The protocol version gate of V logins (§5.2, trap 18).
//!
//! A version packs `major << 20 | minor << 10 | patch`, 10 bits each. The server accepts a
//! client from 0.11.0 up to its own minor, patch ignored, so a 0.12 client (iggy-cli
//! 0.14.1-edge) is refused even though it looks like VSR: its command set differs.

const COMPONENT_BITS: u32 = 10;
const COMPONENT_MAX: u32 = (1 << COMPONENT_BITS) - 1;

/// Packs a version. Panics when a component needs more than 10 bits (at compile time when
/// used in a constant).
pub const fn pack(major: u32, minor: u32, patch: u32) -> u32 {
    assert!(major <= COMPONENT_MAX && minor <= COMPONENT_MAX && patch <= COMPONENT_MAX);
    (major << (2 * COMPONENT_BITS)) | (minor << COMPONENT_BITS) | patch
}

/// `(major, minor, patch)` of a packed version.
pub const fn unpack(version: u32) -> (u32, u32, u32) {
    (version >> (2 * COMPONENT_BITS), (version >> COMPONENT_BITS) & COMPONENT_MAX, version & COMPONENT_MAX)
}

/// The protocol this crate speaks: 0.11.0 = 0x2C00.
pub const SERVER_PROTOCOL_VERSION: u32 = pack(0, 11, 0);
/// The oldest client accepted: the server version with patch zeroed.
pub const SERVER_PROTOCOL_VERSION_MIN: u32 = SERVER_PROTOCOL_VERSION & !COMPONENT_MAX;
/// `(server version, minimum)` as an IncompatibleProtocol eviction carries it: min is not 0
/// and max ≥ min, so the SDK reports a typed IncompatibleProtocolVersion.
pub const PROTOCOL_WINDOW: (u32, u32) = (SERVER_PROTOCOL_VERSION, SERVER_PROTOCOL_VERSION_MIN);

/// Whether a client announcing `client` may log in: at least the minimum, and a minor no
/// newer than ours (`is_protocol_compatible` of the reference crate).
pub const fn is_compatible(client: u32) -> bool {
    client >= SERVER_PROTOCOL_VERSION_MIN && (client >> COMPONENT_BITS) <= (SERVER_PROTOCOL_VERSION >> COMPONENT_BITS)
}
