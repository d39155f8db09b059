//! The crash harness: a killable server process, the load, the ledger of what must survive,
//! and the cycle loop that ties them together.

pub mod harness;
pub mod ledger;
pub mod load;
pub mod recovery;
pub mod server;
pub mod summary;
pub mod wire;
