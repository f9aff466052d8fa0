//! The MCP side: the only module that knows rmcp and the answer JSON. It reads the snapshot through
//! `store::open_reader` (read-only three times over) and never writes it; every call is audited.

pub mod answers;
pub mod bridge;
pub mod budget;
pub mod digest;
pub mod dto;
pub mod render;
pub mod server;
pub mod stdio;
pub mod trends;
pub mod trust;
pub mod untrusted;
