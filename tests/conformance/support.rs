//! What the conformance cases share: running the binary with a changed environment or fewer privileges, expected
//! failures, an archive whose dump is cut in half, and the watchers of the password case.

use crate::PROFILE;
use crate::common::{self, Fingerprint, TestHome};
use std::path::{Path, PathBuf};
use std::process::Output;

/// Runs the real binary in `home` with `env` added.
pub fn run_with(home: &TestHome, args: &[&str], env: &[(String, String)]) -> Output {
    let mut command = home.command(args);
    command.env_remove("DBUS_SESSION_BUS_ADDRESS");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

/// `profile edit db ARGS` in `home`, with `password` on standard input when given; expects success.
pub fn edit_profile(home: &TestHome, args: &[&str], password: Option<&str>) {
    let mut all = vec!["profile", "edit", PROFILE];
    all.extend_from_slice(args);
    let out = match password {
        Some(password) => home.run_with_stdin(&all, &format!("{password}\n")),
        None => home.run(&all),
    };
    assert!(
        out.status.success(),
        "{all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes profile [`PROFILE`] log in as the password role with `password`, kept in the file store.
pub fn log_in_as_password_role(home: &TestHome, password: &str) {
    let args = [
        "--user",
        common::PW_ROLE,
        "--password-stdin",
        "--secret-store",
        "file",
    ];
    edit_profile(home, &args, Some(password));
}

/// Asserts the exit code and that stderr holds every word; returns stderr.
pub fn expect_failure(out: &Output, code: i32, words: &[String], what: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{what}: {err}");
    for word in words {
        assert!(err.contains(word.as_str()), "{what}: no '{word}' in: {err}");
    }
    err
}

/// The row counts the fingerprint saw, as the manifest records them.
pub fn counts(fingerprint: &Fingerprint) -> serde_json::Value {
    fingerprint
        .0
        .iter()
        .map(|(table, (rows, _))| (table.clone(), serde_json::Value::from(*rows)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The archive files of the profile in its storage folder.
pub fn archives(home: &TestHome) -> Vec<String> {
    common::names_in(&home.home().join("archives").join(PROFILE))
}

/// Copies `archive` to `dest` with its database dump cut in half and the manifest's size and SHA-256 of it
/// recomputed, so that every archive check passes and only loading the dump can fail.
pub fn with_truncated_dump(archive: &Path, dest: &Path) {
    use sha2::Digest;
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::fs::File::open(archive).unwrap()).unwrap();
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        let name = entry.name().unwrap().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        entries.push((name, bytes));
    }
    let manifest_at = entries
        .iter()
        .position(|(n, _)| n == "manifest.json")
        .unwrap();
    let mut manifest: serde_json::Value = serde_json::from_slice(&entries[manifest_at].1).unwrap();
    let dump_name = manifest["database"]["entry"].as_str().unwrap().to_string();
    let dump = &mut entries.iter_mut().find(|(n, _)| *n == dump_name).unwrap().1;
    dump.truncate(dump.len() / 2);
    let (size, sha) = (dump.len(), hex::encode(sha2::Sha256::digest(&dump)));
    let mut found = false;
    for entry in manifest["entries"].as_array_mut().unwrap() {
        if entry["path"] == dump_name.as_str() {
            entry["size"] = size.into();
            entry["sha256"] = sha.clone().into();
            found = true;
        }
    }
    assert!(found, "the manifest lists {dump_name}");
    entries[manifest_at].1 = serde_json::to_vec_pretty(&manifest).unwrap();
    entries.sort_by_key(|(name, _)| name == "manifest.json");
    let refs: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
        .collect();
    common::raw_zip(dest, &refs);
}

/// Runs the real binary without the capabilities that let root read any folder: a folder's mode applies.
pub fn run_unprivileged(home: &TestHome, args: &[&str]) -> Output {
    std::process::Command::new("setpriv")
        .args(["--bounding-set=-dac_override,-dac_read_search", "--"])
        .arg(env!("CARGO_BIN_EXE_backstop"))
        .args(args)
        .env("BACKSTOP_HOME", home.home())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("setpriv runs")
}

/// Every process's command line, read from /proc.
pub fn all_cmdlines() -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) {
            out.push(String::from_utf8_lossy(&bytes).replace('\0', " "));
        }
    }
    out
}

/// Watches every process's argv until stopped; returns how many it read and those holding `secret`.
pub fn watch_cmdlines(
    secret: &'static str,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<(usize, Vec<String>)>,
) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping = stop.clone();
    let thread = std::thread::spawn(move || {
        let (mut seen, mut leaked) = (0usize, Vec::new());
        while !stopping.load(std::sync::atomic::Ordering::SeqCst) {
            for cmd in all_cmdlines() {
                seen += 1;
                if cmd.contains(secret) {
                    leaked.push(cmd);
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        (seen, leaked)
    });
    (stop, thread)
}

/// Wrappers for `tools` in `dir`: each appends its argv and environment to `log`, then runs the real tool.
pub fn wrap_tools(dir: &Path, log: &Path, tools: &[(&'static str, PathBuf)]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    for (name, real) in tools {
        let script = format!(
            "#!/bin/sh\n{{ printf 'argv:'; for a in \"$0\" \"$@\"; do printf ' %s' \"$a\"; done; printf '\\n'; \
             env | sed 's/^/env: /'; }} >> '{log}'\nexec '{real}' \"$@\"\n",
            log = log.display(),
            real = real.display()
        );
        let path = dir.join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// Asserts that no file under the home holds `secret` (inside archives too), except the secret file itself.
pub fn assert_secret_nowhere(home: &TestHome, secret: &str, secret_file: &Path) {
    for (path, _) in common::tree_snapshot(&home.home()) {
        if path == secret_file {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(secret),
            "the password is in {}",
            path.display()
        );
        if path.extension().is_some_and(|e| e == "zip") {
            let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
            for i in 0..zip.len() {
                let mut text = Vec::new();
                std::io::Read::read_to_end(&mut zip.by_index(i).unwrap(), &mut text).unwrap();
                assert!(
                    !String::from_utf8_lossy(&text).contains(secret),
                    "inside {}",
                    path.display()
                );
            }
        }
    }
}
