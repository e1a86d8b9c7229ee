//! Issue 14, host side: prepared installs (a tree laid out ahead of time
//! that the launcher starts from before its cache), `MULTIARCH_EXEC=no-memfd`
//! and `prepared`, and the host's `/etc/multiarch.conf` (a cap, no memfds).
//!
//! The trees are laid out here by hand (`<root>/<sha256 prefix>/<program>`,
//! mode 0755), independently of `multiarch install`, whose own tests check
//! that it writes this layout. The host file and the default root
//! `/usr/lib/multiarch` are the real paths, seen by the bundle only: its
//! child runs in a mount namespace of its own where an overlay adds the
//! test's files to `/etc` or `/usr/lib` (root only; skipped otherwise).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod util;

use multiarch_launcher::Level;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use util::{
    cache_key, chmod, describe, fixtures, host_level, log_line, log_prefix, run, stderr, Bundle, Report,
    Sandbox,
};

/// The user a test hands files to, to make them foreign-owned.
const NOBODY: u32 = 65534;

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Lays out `bundle`'s builds under `root` as `multiarch install` does:
/// `<root>/<key>/<program>`, directories and files mode 0755.
fn lay_out(root: &Path, bundle: Bundle) {
    fs::create_dir_all(root).unwrap();
    chmod(root, 0o755);
    for level in bundle.levels() {
        let payload = fixtures().payload(level);
        let dir = root.join(cache_key(&payload));
        fs::create_dir_all(&dir).unwrap();
        chmod(&dir, 0o755);
        let entry = dir.join(bundle.program());
        // Copied by cp, not in this process: a thread of ours forking while
        // we held the file open for writing would make its exec fail with
        // ETXTBSY.
        let ok = Command::new("cp").arg(&payload).arg(&entry).status().unwrap().success();
        assert!(ok, "cp {}", payload.display());
        chmod(&entry, 0o755);
    }
}

/// The entry of `level` in the tree at `root`.
fn entry(root: &Path, bundle: Bundle, level: Level) -> PathBuf {
    root.join(cache_key(&fixtures().payload(level))).join(bundle.program())
}

/// `bundle report` with the log on, the tree at `root` and `vars`.
fn start(sb: &Sandbox, bundle: Bundle, root: &Path, vars: &[(&str, &str)]) -> Command {
    let mut cmd = sb.bundle(bundle);
    cmd.arg("report")
        .env("MULTIARCH_DEBUG", "log")
        .env("MULTIARCH_PREPARED_DIR", root)
        .envs(vars.iter().copied());
    cmd
}

/// Requires exit 126 and one `[multiarch] error:` line holding each of `want`.
fn assert_error(out: &Output, want: &[&str]) {
    assert_eq!(out.status.code(), Some(126), "{}: {}", describe(out), stderr(out));
    assert!(out.stdout.is_empty(), "the program ran");
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("[multiarch] error: "), "{err}");
    for w in want {
        assert!(err.contains(w), "{err:?} lacks {w:?}");
    }
}

#[test]
fn first_start_uses_the_prepared_tree_with_no_writable_home_or_cache() {
    let sb = Sandbox::new("prepared");
    let level = host_level();
    let root = sb.dir.join("tree");
    for bundle in [Bundle::Full, Bundle::Dynamic, Bundle::V1V3] {
        lay_out(&root, bundle);
    }
    // An empty HOME nobody may write, and no XDG_CACHE_HOME: the first
    // start of a user in a fresh container.
    chmod(&sb.home, 0o555);
    for bundle in [Bundle::Full, Bundle::Dynamic, Bundle::V1V3] {
        let picked = bundle.pick(level);
        let mut cmd = start(&sb, bundle, &root, &[]);
        cmd.env_remove("XDG_CACHE_HOME");
        // With the whole sandbox read-only as well, where the system allows.
        util::read_only_in_child(&mut cmd, &sb.dir);
        let out = run(&mut cmd);
        assert_eq!(log_line(&out), format!("{})", log_prefix(picked, level, bundle, "via prepared install")));
        let report = Report::parse(&out);
        assert_eq!(report.exe, entry(&root, bundle, picked), "{bundle:?}");
        assert_eq!(report.level, picked.cpu_name());
        // Every level, each from its own entry.
        for forced in bundle.levels().into_iter().filter(|&l| l <= level) {
            let out = run(&mut start(&sb, bundle, &root, &[("MULTIARCH_LEVEL", forced.short_name())]));
            assert_eq!(Report::parse(&out).exe, entry(&root, bundle, forced), "{bundle:?} {forced}");
        }
    }
    assert!(!sb.cache_root().exists() && !sb.home.join(".cache").exists(), "a cache was written");
    // MULTIARCH_EXEC=prepared and no-memfd use it; cache skips it.
    for (mode, via) in [("prepared", "via prepared install"), ("no-memfd", "via prepared install")] {
        let out = run(&mut start(&sb, Bundle::Full, &root, &[("MULTIARCH_EXEC", mode)]));
        assert_eq!(log_line(&out), format!("{})", log_prefix(level, level, Bundle::Full, via)), "{mode}");
    }
    chmod(&sb.home, 0o755);
    let out = run(&mut start(&sb, Bundle::Full, &root, &[("MULTIARCH_EXEC", "cache")]));
    assert_eq!(
        log_line(&out),
        format!("{})", log_prefix(level, level, Bundle::Full, "via cache, written now"))
    );
    // A relative MULTIARCH_PREPARED_DIR is refused, as any bad value.
    let mut cmd = sb.bundle(Bundle::Full);
    cmd.arg("report").env("MULTIARCH_PREPARED_DIR", "tree");
    assert_error(&run(&mut cmd), &["MULTIARCH_PREPARED_DIR=\"tree\" is not valid", "absolute path"]);
}

#[test]
fn an_untrusted_or_wrong_tree_is_passed_over_for_the_cache() {
    let level = host_level();
    type Spoil = fn(&Path, &Path) -> String;
    let mut cases: Vec<(&str, Spoil)> = vec![
        ("group-writable root", |root, _| {
            chmod(root, 0o775);
            format!("{} has mode 775, writable by others: not trusted", root.display())
        }),
        ("others-writable key directory", |_, entry| {
            chmod(entry.parent().unwrap(), 0o757);
            "has mode 757, writable by others".into()
        }),
        ("group-writable entry", |_, entry| {
            chmod(entry, 0o775);
            format!("{} has mode 775, writable by others: not trusted", entry.display())
        }),
        ("entry of another build (wrong size)", |_, entry| {
            let other = fixtures().payload(Level::V1);
            fs::remove_file(entry).unwrap();
            assert!(Command::new("cp").arg(&other).arg(entry).status().unwrap().success());
            let (got, want) = (fs::metadata(entry).unwrap().len(), fs::metadata(&other).unwrap().len());
            assert_ne!(got, fs::metadata(fixtures().payload(host_level())).unwrap().len());
            format!("has {want} bytes, the build has")
        }),
        ("entry is a symbolic link", |_, entry| {
            fs::remove_file(entry).unwrap();
            std::os::unix::fs::symlink(fixtures().payload(host_level()), entry).unwrap();
            format!("{} is not a regular file", entry.display())
        }),
        ("entry not executable", |_, entry| {
            chmod(entry, 0o644);
            "has mode 644: uid".into()
        }),
    ];
    if level == Level::V1 {
        // The wrong-size case swaps in the v1 build: the same one here.
        cases.retain(|(what, _)| !what.contains("wrong size"));
    }
    if euid() == 0 {
        cases.push(("entry owned by another user", |_, entry| {
            std::os::unix::fs::lchown(entry, Some(NOBODY), None).unwrap();
            format!("owned by uid {NOBODY}, not by root or uid 0: not trusted")
        }));
        cases.push(("root owned by another user", |root, _| {
            std::os::unix::fs::lchown(root, Some(NOBODY), None).unwrap();
            format!("{} is owned by uid {NOBODY}, not by root or uid 0: not trusted", root.display())
        }));
    } else {
        eprintln!("SKIP: the foreign-owner cases need root to chown");
    }
    for (what, spoil) in cases {
        let sb = Sandbox::new("untrusted");
        let root = sb.dir.join("tree");
        lay_out(&root, Bundle::Full);
        let entry = entry(&root, Bundle::Full, level);
        let why = spoil(&root, &entry);
        // 'root or uid 0' reads 'root or uid <euid>' for other users.
        let why = why.replace("uid 0:", &format!("uid {}:", euid()));
        let cmd = |vars: &[(&str, &str)]| start(&sb, Bundle::Full, &root, vars);
        let out = run(&mut cmd(&[]));
        let line = log_line(&out);
        let prefix =
            log_prefix(level, level, Bundle::Full, "via cache, written now; prepared install unusable: ");
        assert!(line.starts_with(&prefix) && line.contains(&why), "{what}: {line}\nwant {prefix}...{why}");
        assert_eq!(Report::parse(&out).exe, sb.entry(Bundle::Full, level), "{what}");
        let out = run(&mut cmd(&[("MULTIARCH_EXEC", "prepared")]));
        assert_error(&out, &["could not start", "from a prepared install", &why, "MULTIARCH_EXEC=prepared"]);
        // Never changed by the launcher.
        if let Ok(meta) = fs::symlink_metadata(&entry) {
            assert!(meta.file_type().is_symlink() || meta.len() > 0, "{what}");
        }
    }
}

/// `MULTIARCH_EXEC=no-memfd`: a prepared install or the cache, never a
/// memfd; checked with memfd_create denied (as a Falco or
/// `vm.memfd_noexec=2` host would stop it), so a memfd attempt would show.
#[test]
fn no_memfd_mode_never_makes_a_memfd() {
    let sb = Sandbox::new("no-memfd");
    let level = host_level();
    let no_tree = sb.dir.join("no-tree");
    let deny = |cmd: &mut Command| util::deny_syscall_in_child(cmd, libc::SYS_memfd_create);
    // No tree, a usable cache: the cache.
    let mut cmd = start(&sb, Bundle::Full, &no_tree, &[("MULTIARCH_EXEC", "no-memfd")]);
    deny(&mut cmd);
    let out = run(&mut cmd);
    assert_eq!(
        log_line(&out),
        format!("{})", log_prefix(level, level, Bundle::Full, "via cache, written now"))
    );
    // No tree, no cache: one line, 126, and no memfd tried.
    for home in ["", "relative"] {
        let mut cmd = start(&sb, Bundle::Full, &no_tree, &[("MULTIARCH_EXEC", "no-memfd"), ("HOME", home)]);
        cmd.env_remove("XDG_CACHE_HOME");
        deny(&mut cmd);
        let out = run(&mut cmd);
        assert_error(
            &out,
            &[
                "without a memfd (MULTIARCH_EXEC=no-memfd)",
                "tried a prepared install (no entry",
                "the cache (cache unusable",
            ],
        );
        assert!(!stderr(&out).contains("memfd_create"), "{}", stderr(&out));
    }
    // In auto mode the same start does try a memfd (which the filter denies):
    // the test above would see one.
    let mut cmd = start(&sb, Bundle::Full, &no_tree, &[("HOME", "")]);
    cmd.env_remove("XDG_CACHE_HOME");
    deny(&mut cmd);
    assert_error(&run(&mut cmd), &["memfd_create: Operation not permitted"]);
}

// --- the host's /etc/multiarch.conf and /usr/lib/multiarch ------------------

/// Runs the child in a mount namespace of its own where each `(lower,
/// target)` overlay shows `lower`'s files on top of `target`'s (read-only).
/// Returns false (after printing why) where that cannot be done: not root,
/// or no mount namespaces or overlayfs here.
fn overlay_in_child(cmd: &mut Command, layers: &[(&Path, &str)]) -> bool {
    if euid() != 0 {
        eprintln!("SKIP: overlaying /etc or /usr/lib needs root");
        return false;
    }
    let probe = Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(format!(
            "mount -t overlay overlay -o lowerdir={}:{t} {t}",
            layers[0].0.display(),
            t = layers[0].1
        ))
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("SKIP: cannot mount an overlay in a mount namespace here");
        return false;
    }
    let c = |b: &[u8]| CString::new(b).unwrap();
    let mounts: Vec<(CString, CString)> = layers
        .iter()
        .map(|(lower, target)| {
            let mut opts = b"lowerdir=".to_vec();
            opts.extend_from_slice(lower.as_os_str().as_bytes());
            opts.extend_from_slice(format!(":{target}").as_bytes());
            (c(target.as_bytes()), c(&opts))
        })
        .collect();
    let (overlay, slash) = (c(b"overlay"), c(b"/"));
    let hook = move || {
        let check = |rc: libc::c_int| if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) };
        let null = std::ptr::null::<libc::c_char>();
        // SAFETY: unshare(2) affects only this (child) process.
        check(unsafe { libc::unshare(libc::CLONE_NEWNS) })?;
        // SAFETY: mount(2) with NUL-terminated strings or NULL, in the
        // child's own mount namespace; MS_PRIVATE keeps it from propagating.
        check(unsafe {
            libc::mount(null, slash.as_ptr(), null, libc::MS_REC | libc::MS_PRIVATE, null.cast())
        })?;
        for (target, opts) in &mounts {
            // SAFETY: as above.
            check(unsafe {
                libc::mount(overlay.as_ptr(), target.as_ptr(), overlay.as_ptr(), 0, opts.as_ptr().cast())
            })?;
        }
        Ok(())
    };
    // SAFETY: the hook only makes system calls, without allocating.
    unsafe { cmd.pre_exec(hook) };
    true
}

/// A directory holding `multiarch.conf` with `text`, mode 0644, root's.
fn etc_layer(sb: &Sandbox, name: &str, text: &str) -> PathBuf {
    let dir = sb.dir.join(name);
    fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o755);
    fs::write(dir.join("multiarch.conf"), text).unwrap();
    chmod(&dir.join("multiarch.conf"), 0o644);
    dir
}

#[test]
fn host_cap_masks_the_cpu_and_is_shown_in_the_log_line() {
    let sb = Sandbox::new("hostcap");
    chmod(&sb.dir, 0o755);
    let level = host_level();
    let no_tree = sb.dir.join("no-tree");
    let layer = etc_layer(&sb, "cap-v2", "# fleet setting\ncap = x86-64-v2\n");
    let mut cmd = start(&sb, Bundle::Full, &no_tree, &[]);
    if !overlay_in_child(&mut cmd, &[(&layer, "/etc")]) {
        return;
    }
    let out = run(&mut cmd);
    let want = level.min(Level::V2);
    assert_eq!(
        log_line(&out),
        format!(
            "{}; capped at x86-64-v2 by /etc/multiarch.conf)",
            log_prefix(want, level, Bundle::Full, "via cache, written now")
        )
    );
    assert_eq!(Report::parse(&out).level, want.cpu_name());
    // MULTIARCH_LEVEL above the cap is refused as above "the CPU", naming the cap.
    if level > Level::V2 {
        let mut cmd = start(&sb, Bundle::Full, &no_tree, &[("MULTIARCH_LEVEL", "v3")]);
        overlay_in_child(&mut cmd, &[(&layer, "/etc")]);
        assert_error(
            &run(&mut cmd),
            &["MULTIARCH_LEVEL=v3: this CPU (x86-64-v2) lacks", "capped at x86-64-v2 by /etc/multiarch.conf"],
        );
    }

    // Bad values: 126, one line naming the file and the line.
    for (text, want) in [
        ("cap = v5\n", "/etc/multiarch.conf line 1: cap = \"v5\" is not valid"),
        (
            "exec = no-memfd\n\nexec = auto\n",
            "/etc/multiarch.conf line 3: exec is set again (first on line 1)",
        ),
        ("cap: v3\n", "line 1: \"cap: v3\" is not KEY = VALUE"),
    ] {
        let layer = etc_layer(&sb, &format!("bad-{}", text.len()), text);
        let mut cmd = start(&sb, Bundle::Full, &no_tree, &[]);
        overlay_in_child(&mut cmd, &[(&layer, "/etc")]);
        assert_error(&run(&mut cmd), &[want]);
    }

    // Unknown keys are named, not fatal.
    let layer = etc_layer(&sb, "unknown", "prefer = v3\n");
    let mut cmd = start(&sb, Bundle::Full, &no_tree, &[]);
    overlay_in_child(&mut cmd, &[(&layer, "/etc")]);
    let line = log_line(&run(&mut cmd));
    assert!(line.ends_with("; unknown key prefer in /etc/multiarch.conf ignored)"), "{line}");

    // A file others could have written is ignored, with the reason.
    for (name, spoil, why) in [
        (
            "foreign",
            0,
            format!("host settings ignored: /etc/multiarch.conf is owned by uid {NOBODY}, not root"),
        ),
        ("writable", 1, "host settings ignored: /etc/multiarch.conf has mode 666, writable by others".into()),
    ] {
        let layer = etc_layer(&sb, name, "cap = v1\n");
        let file = layer.join("multiarch.conf");
        if spoil == 0 {
            std::os::unix::fs::lchown(&file, Some(NOBODY), None).unwrap();
        } else {
            chmod(&file, 0o666);
        }
        let mut cmd = start(&sb, Bundle::Full, &no_tree, &[]);
        overlay_in_child(&mut cmd, &[(&layer, "/etc")]);
        let out = run(&mut cmd);
        let line = log_line(&out);
        assert!(line.ends_with(&format!("; {why})")), "{name}: {line}");
        assert_eq!(Report::parse(&out).level, level.cpu_name(), "{name}: the cap applied");
    }
}

#[test]
fn host_no_memfd_forbids_memfds_for_every_start() {
    let sb = Sandbox::new("hostexec");
    chmod(&sb.dir, 0o755);
    let no_tree = sb.dir.join("no-tree");
    let layer = etc_layer(&sb, "no-memfd", "exec = no-memfd\n");
    let mut cmd = start(&sb, Bundle::Full, &no_tree, &[("MULTIARCH_EXEC", "memfd")]);
    if !overlay_in_child(&mut cmd, &[(&layer, "/etc")]) {
        return;
    }
    assert_error(
        &run(&mut cmd),
        &["MULTIARCH_EXEC=memfd is refused on this host (exec = no-memfd in /etc/multiarch.conf)"],
    );
    // auto: no tree, no cache, so nothing may start it.
    let mut cmd = start(&sb, Bundle::Full, &no_tree, &[("HOME", "")]);
    cmd.env_remove("XDG_CACHE_HOME");
    util::deny_syscall_in_child(&mut cmd, libc::SYS_memfd_create);
    overlay_in_child(&mut cmd, &[(&layer, "/etc")]);
    let out = run(&mut cmd);
    assert_error(&out, &["without a memfd (exec = no-memfd in /etc/multiarch.conf)"]);
    assert!(!stderr(&out).contains("memfd_create"), "{}", stderr(&out));
}

/// Secure mode (a setuid bundle) ignores the environment, so no
/// MULTIARCH_PREPARED_DIR: the tree must be root's at /usr/lib/multiarch,
/// and the host file applies too.
#[test]
fn secure_mode_uses_roots_prepared_tree_and_the_host_file() {
    let sb = Sandbox::new("secure-prepared");
    chmod(&sb.dir, 0o755);
    let level = host_level();
    let usr_lib = sb.dir.join("usr-lib");
    let tree = usr_lib.join("multiarch");
    lay_out(&tree, Bundle::Full);
    chmod(&usr_lib, 0o755);
    let setuid = sb.dir.join("setuid-bundle");
    let mut install = Command::new("install");
    install.args(["-o", &NOBODY.to_string(), "-m", "4755"]).arg(fixtures().bundle(Bundle::Full)).arg(&setuid);
    let mut cmd = sb.command(&setuid);
    cmd.arg("report").env("MULTIARCH_PREPARED_DIR", sb.dir.join("elsewhere"));
    if !overlay_in_child(&mut cmd, &[(&usr_lib, "/usr/lib")]) {
        return;
    }
    assert!(run(&mut install).status.success());
    let report = Report::parse(&run(&mut cmd));
    assert_eq!(
        report.exe,
        Path::new("/usr/lib/multiarch").join(entry(&tree, Bundle::Full, level).strip_prefix(&tree).unwrap())
    );
    // With the host's cap and memfds forbidden: the capped build, from the tree.
    let etc = etc_layer(&sb, "etc", "cap = v1\nexec = no-memfd\n");
    let mut cmd = sb.command(&setuid);
    cmd.arg("report");
    overlay_in_child(&mut cmd, &[(&usr_lib, "/usr/lib"), (&etc, "/etc")]);
    let report = Report::parse(&run(&mut cmd));
    assert_eq!(report.level, "x86-64");
    assert_eq!(
        report.exe,
        Path::new("/usr/lib/multiarch")
            .join(entry(&tree, Bundle::Full, Level::V1).strip_prefix(&tree).unwrap())
    );
    // A tree of another user is not trusted in secure mode, even the
    // setuid owner's: root's only. Memfds forbidden, so the start fails.
    std::os::unix::fs::lchown(&tree, Some(NOBODY), None).unwrap();
    let mut cmd = sb.command(&setuid);
    cmd.arg("report");
    overlay_in_child(&mut cmd, &[(&usr_lib, "/usr/lib"), (&etc, "/etc")]);
    assert_error(
        &run(&mut cmd),
        &[
            "from a prepared install",
            "/usr/lib/multiarch is owned by uid 65534, not by root or uid 0",
            "secure mode",
        ],
    );
}
