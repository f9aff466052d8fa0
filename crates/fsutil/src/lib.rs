//! Small filesystem helpers with the project's rules: private permissions (0700 directories,
//! 0600 files), durable renames, and moves that never overwrite.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Lowercase hex, as the ledger writes SHA-256 digests.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The SHA-256 of a file's bytes, in [`hex`].
pub fn sha256_file(path: &Path) -> io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    io::copy(&mut fs::File::open(path)?, &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}

/// Whether the file at `path` holds exactly the bytes whose SHA-256 is `sha256`.
pub fn same_sha256(path: &Path, sha256: &str) -> bool {
    sha256_file(path).is_ok_and(|s| s == sha256)
}

/// Create `dir` and its missing parents; the directories created are 0700.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Create `path` empty with mode 0600 if it does not exist.
pub fn create_private_file(path: &Path) -> io::Result<()> {
    match fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Write `contents` to a new 0600 file.
pub fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    use io::Write;
    let mut file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// `dir/name`, or `dir/name.N` for the first N that does not exist yet.
pub fn free_name(dir: &Path, name: &str) -> PathBuf {
    // A dangling link still takes its name.
    let taken = |p: &Path| fs::symlink_metadata(p).is_ok();
    let first = dir.join(name);
    if !taken(&first) {
        return first;
    }
    (1..).map(|n| dir.join(format!("{name}.{n}"))).find(|p| !taken(p)).unwrap_or(first)
}

/// Move `from` into `dir` (created 0700) under its own name, never overwriting. Returns the new path.
pub fn move_into(from: &Path, dir: &Path) -> io::Result<PathBuf> {
    let to = place_in(from, dir)?;
    move_to(from, &to)?;
    Ok(to)
}

/// Move `from` to exactly `to` (its folder created 0700): a rename, or across filesystems a copy
/// under a temporary name, renamed into place, then the original removed. Either way `to` appears
/// whole or not at all, so a crash leaves the file at `from`, or complete at `to` (perhaps with the
/// original still at `from`).
pub fn move_to(from: &Path, to: &Path) -> io::Result<()> {
    let dir = parent_of(to)?;
    create_private_dir(dir)?;
    if let Err(e) = fs::rename(from, to) {
        // A link is moved as itself or not at all: copying would copy what it points at.
        if fs::symlink_metadata(from)?.file_type().is_symlink() {
            return Err(e);
        }
        copy_whole(from, to)?;
        fs::remove_file(from)?;
    }
    sync_dir(dir);
    Ok(())
}

/// Copy `from` into `dir` (created 0700) under its own name, never overwriting. Returns the new path.
pub fn copy_into(from: &Path, dir: &Path) -> io::Result<PathBuf> {
    let to = place_in(from, dir)?;
    copy_to(from, &to)?;
    Ok(to)
}

/// Copy `from` to exactly `to` (0600, its folder created 0700); `to` appears whole or not at all.
/// A symbolic link is copied as a link (never what it points at).
pub fn copy_to(from: &Path, to: &Path) -> io::Result<()> {
    let dir = parent_of(to)?;
    create_private_dir(dir)?;
    if fs::symlink_metadata(from)?.file_type().is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(from)?, to)?;
        sync_dir(dir);
        return Ok(());
    }
    copy_whole(from, to)?;
    sync_dir(dir);
    Ok(())
}

/// Copy to `TO.partial` (0600), fsync, rename to `to`.
fn copy_whole(from: &Path, to: &Path) -> io::Result<()> {
    let mut partial = to.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    fs::copy(from, &partial)?;
    fs::set_permissions(&partial, fs::Permissions::from_mode(0o600))?;
    fs::File::open(&partial)?.sync_all()?;
    fs::rename(&partial, to)
}

fn parent_of(path: &Path) -> io::Result<&Path> {
    path.parent().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no folder"))
}

fn place_in(from: &Path, dir: &Path) -> io::Result<PathBuf> {
    create_private_dir(dir)?;
    let name = from.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    Ok(free_name(dir, &name.to_string_lossy()))
}

/// Make a rename in `dir` durable (best effort: not every filesystem allows it).
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
