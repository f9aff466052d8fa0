//! Where files come from and when they are ready. `folder` watches and rescans a directory;
//! `ready` decides when a file is complete (settled, renamed into place, or announced by a trigger).

pub mod folder;
pub mod ready;
pub mod sftp;
