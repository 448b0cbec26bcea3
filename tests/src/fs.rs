//! Hostile filesystems for the fault tests: a size-limited tmpfs (unmounted on drop, also when
//! the test panics) and a filler file that takes its last free byte.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether this process may mount filesystems. When it may not and `CI` is unset, a fault test
/// skips loudly; in CI it fails instead.
pub fn can_mount() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the effective user.
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !root {
        assert!(
            std::env::var("CI").is_err(),
            "CI is set but the fault tests are not running as root: they need to mount a tmpfs"
        );
        eprintln!("SKIPPED: not root, cannot mount a size-limited tmpfs for the fault tests");
    }
    root
}

/// A tmpfs of `size` bytes mounted on a fresh temp dir.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(size: u64) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap_or_else(|e| panic!("mount: {e}"));
        assert!(
            status.success(),
            "mount tmpfs on {}: {status}",
            dir.path().display()
        );
        Tmpfs { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the filesystem is full; returns its path (delete it to free space).
    pub fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut f = std::fs::File::create(&path).unwrap_or_else(|e| panic!("filler: {e}"));
        let chunk = vec![0x5a_u8; 4096];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
        // The last partial pages too.
        let one = [0x5a_u8; 1];
        while f.write(&one).is_ok_and(|n| n == 1) {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a hub of the test may still hold files open.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// `chattr +i` / `-i` on every file of `dir` (immutable: even root cannot write).
pub fn set_immutable(dir: &Path, on: bool) {
    let flag = if on { "+i" } else { "-i" };
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        if path.is_file() {
            let status = Command::new("chattr")
                .arg(flag)
                .arg(&path)
                .status()
                .unwrap_or_else(|e| panic!("chattr: {e}"));
            assert!(
                status.success(),
                "chattr {flag} {}: {status}",
                path.display()
            );
        }
    }
}
