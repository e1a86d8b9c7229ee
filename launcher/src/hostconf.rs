//! The host's own settings: `/etc/multiarch.conf`, which the fleet's
//! configuration management writes and every bundle on the host obeys,
//! also in secure mode (setuid), because only root can write it.
//!
//! ```text
//! # /etc/multiarch.conf (a comment takes a whole line)
//! cap = x86-64-v3
//! exec = no-memfd
//! ```
//!
//! - `cap = LEVEL` (`v1`..`v4`, `x86-64`, `x86-64-v2`..`x86-64-v4`): the CPU
//!   is taken to have at most this level's features before a build is
//!   selected ([`capped`]), so a fleet where AVX-512 downclocks, or where
//!   live migration may move a VM to an older CPU, runs the v3 build.
//! - `exec = auto | no-memfd`: `no-memfd` forbids starting a build from a
//!   memfd on this host (Falco's "Fileless execution via memfd_create" rule,
//!   `vm.memfd_noexec=2`): a prepared install or the per-user cache, else
//!   the start fails.
//!
//! One `KEY = VALUE` per line (spaces around `=` and at either end are
//! ignored), `#` starts a comment line, blank lines are skipped. A known key
//! with a value it does not take, a key given twice, a line that is not
//! `KEY = VALUE` or a file over [`MAX_SIZE`] bytes is an error: the bundle
//! exits 126 with one line naming the file, the line and the fix. An unknown
//! key is ignored and named in the `MULTIARCH_DEBUG=log` line, so that a
//! fleet can add keys of newer launchers without stopping older bundles.
//!
//! # Trust
//!
//! The file is read only when `/`, `/etc` and the file are root's and not
//! writable by group or others (`/etc` is walked by [`crate::walk`]'s
//! rule with root as the only trusted user; the file is opened with
//! `O_NOFOLLOW` relative to the checked `/etc` and checked with `fstat` on
//! that descriptor). Anything else (a file of another user, one writable by
//! others, a symbolic link, a FIFO) is ignored, with the reason in the log
//! line: ignoring it can only lift a cap or allow a memfd, which is what a
//! host without the file gets, while failing every start of every bundle
//! on a host whose file someone else could have planted would hand that
//! someone a way to stop them all.

use crate::bformat;
use crate::features::FeatureSet;
use crate::level::Level;
use crate::sys::{self, Errno};
use crate::text::{Buf, Escaped, Quoted};
use crate::walk::{self, sys_error, Message, Name, WalkError};

/// Where the host's settings are.
pub const PATH: &str = "/etc/multiarch.conf";
/// The most bytes the file may have.
pub const MAX_SIZE: usize = 4096;

/// What `exec` says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HostExec {
    /// Any way of starting a build (the default).
    #[default]
    Auto,
    /// Never a memfd.
    NoMemfd,
}

/// The accepted values of `exec`, for messages.
const EXEC_ACCEPTED: &str = "auto, no-memfd";

/// What the file says.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// `cap`: the highest level the CPU is taken to have.
    pub cap: Option<Level>,
    /// `exec`.
    pub exec: HostExec,
    /// The first unknown key, for the log line.
    pub unknown: Option<Name>,
}

/// The host's settings as the launcher uses them.
#[derive(Clone, Debug, Default)]
pub struct HostConf {
    /// The settings read (defaults when there is no file, or it was ignored).
    pub settings: Settings,
    /// Why a file that is there was not read, for the log line.
    pub ignored: Option<Message>,
}

/// The detected CPU features under the host's cap: only those that the
/// cap's level has, so no variant that needs more is started on its own
/// (the same rule as a bundle's own cap, `multiarch pack --cap`).
pub fn capped(detected: FeatureSet, cap: Option<Level>) -> FeatureSet {
    match cap {
        Some(cap) => detected.intersection(cap.features()),
        None => detected,
    }
}

/// Spaces and tabs off both ends.
fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// An error of [`parse`]: the line and what is wrong with it.
pub type ParseError = Message;

/// Parses the file's text (see the module docs).
pub fn parse(text: &[u8]) -> Result<Settings, ParseError> {
    let mut settings = Settings::default();
    let (mut cap_line, mut exec_line) = (0usize, 0usize);
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let line = trim(raw.strip_suffix(b"\r").unwrap_or(raw));
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let Some(eq) = line.iter().position(|&b| b == b'=') else {
            return Err(bformat!(1024, "line {n}: {} is not KEY = VALUE", Quoted(line)));
        };
        let (key, value) = (trim(&line[..eq]), trim(&line[eq + 1..]));
        let first = match key {
            b"cap" => &mut cap_line,
            b"exec" => &mut exec_line,
            _ => {
                if settings.unknown.is_none() {
                    settings.unknown = Some(Buf::from_bytes(key));
                }
                continue;
            }
        };
        if *first != 0 {
            return Err(bformat!(
                1024,
                "line {n}: {} is set again (first on line {}); keep one",
                Escaped(key),
                *first
            ));
        }
        *first = n;
        match key {
            // The levels are x86-64's: a cap on another architecture would
            // mask bits that mean other features there.
            b"cap" if !cfg!(target_arch = "x86_64") => {
                return Err(bformat!(
                    1024,
                    "line {n}: cap is for x86-64 hosts (its values are x86-64 levels); remove it here"
                ));
            }
            b"cap" => {
                settings.cap = Some(Level::parse(value).ok_or_else(|| {
                    bformat!(
                        1024,
                        "line {n}: cap = {} is not valid (accepted: {})",
                        Quoted(value),
                        Level::ACCEPTED
                    )
                })?);
            }
            _ => {
                settings.exec = match value {
                    b"auto" => HostExec::Auto,
                    b"no-memfd" => HostExec::NoMemfd,
                    _ => {
                        return Err(bformat!(
                            1024,
                            "line {n}: exec = {} is not valid (accepted: {EXEC_ACCEPTED})",
                            Quoted(value)
                        ))
                    }
                };
            }
        }
    }
    Ok(settings)
}

/// Reads [`PATH`] if it is there and trusted. `Err` (exit 126) only for a
/// trusted file whose content is wrong; an untrusted one is ignored, with
/// the reason in [`HostConf::ignored`].
pub fn load() -> Result<HostConf, Message> {
    // Nearly every host has no such file: one call says so.
    let flags = sys::O_PATH | sys::O_NOFOLLOW | sys::O_CLOEXEC;
    if let Err(Errno::ENOENT | Errno::ENOTDIR) = sys::openat(sys::AT_FDCWD, c"/etc/multiarch.conf", flags, 0)
    {
        return Ok(HostConf::default());
    }
    let ignored = |why: Message| Ok(HostConf { settings: Settings::default(), ignored: Some(why) });
    // Root is the only trusted owner, whoever runs the bundle.
    let dir = match walk::open_dir(b"/etc", 0, false) {
        Ok(dir) => dir,
        Err(WalkError::Missing) => return Ok(HostConf::default()),
        Err(WalkError::Failed(why)) => return ignored(why),
    };
    let flags = sys::O_RDONLY | sys::O_NOFOLLOW | sys::O_NONBLOCK | sys::O_CLOEXEC;
    let fd = match sys::openat(dir.fd.0, c"multiarch.conf", flags, 0) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(HostConf::default()),
        Err(Errno::ELOOP) => return ignored(bformat!(1024, "{PATH} is a symbolic link")),
        Err(e) => return ignored(sys_error("cannot open", PATH.as_bytes(), e)),
    };
    let st = match sys::fstat(&fd) {
        Ok(st) => st,
        Err(e) => return ignored(sys_error("cannot stat", PATH.as_bytes(), e)),
    };
    if st.kind() != sys::S_IFREG {
        return ignored(bformat!(1024, "{PATH} is not a regular file"));
    }
    if st.uid != 0 {
        return ignored(bformat!(1024, "{PATH} is owned by uid {}, not root", st.uid));
    }
    if st.mode & 0o022 != 0 {
        return ignored(bformat!(1024, "{PATH} has mode {:o}, writable by others", st.mode & 0o7777));
    }
    let mut buf = [0u8; MAX_SIZE + 1];
    let mut len = 0;
    while len < buf.len() {
        match sys::read(&fd, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) => return Err(sys_error("cannot read", PATH.as_bytes(), e)),
        }
    }
    if len > MAX_SIZE {
        return Err(bformat!(
            1024,
            "{PATH} is larger than {MAX_SIZE} bytes; it holds a few KEY = VALUE lines"
        ));
    }
    match parse(&buf[..len]) {
        Ok(settings) => Ok(HostConf { settings, ignored: None }),
        Err(e) => Err(bformat!(1024, "{PATH} {e}; fix the file (see the README, \"Host cap\")")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn ok(text: &str) -> Settings {
        parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn err(text: &[u8]) -> std::string::String {
        let e = parse(text).expect_err("must be refused").to_string();
        assert!(!e.contains('\n'), "{e}");
        e
    }

    #[test]
    fn empty_comments_and_blank_lines_are_the_defaults() {
        for text in ["", "\n", "# cap = v1\n\n   \t\n  # indented comment", "\r\n"] {
            let s = ok(text);
            assert_eq!((s.cap, s.exec, s.unknown.is_none()), (None, HostExec::Auto, true), "{text:?}");
        }
    }

    #[test]
    // `cap` takes x86-64 levels (refused elsewhere: below).
    #[cfg(target_arch = "x86_64")]
    fn keys_values_and_spacing() {
        let s = ok("cap=x86-64-v3\nexec=no-memfd\n");
        assert_eq!((s.cap, s.exec), (Some(Level::V3), HostExec::NoMemfd));
        let s = ok("  cap \t=  v2  \r\n# comment\nexec = auto");
        assert_eq!((s.cap, s.exec), (Some(Level::V2), HostExec::Auto));
        for (value, level) in [("v1", Level::V1), ("x86-64", Level::V1), ("v4", Level::V4)] {
            assert_eq!(ok(&std::format!("cap = {value}")).cap, Some(level));
        }
    }

    #[test]
    // `cap` takes x86-64 levels (refused elsewhere: below).
    #[cfg(target_arch = "x86_64")]
    fn bad_values_name_the_line_and_the_accepted_values() {
        let e = err(b"# first\ncap = v5\n");
        assert!(e.starts_with("line 2: cap = \"v5\" is not valid (accepted: v1, v2"), "{e}");
        let e = err(b"exec = memfd");
        assert!(e.contains("line 1: exec = \"memfd\"") && e.contains("auto, no-memfd"), "{e}");
        // A trailing comment is part of the value, so refused, not ignored.
        assert!(err(b"cap = v3 # AVX-512 downclocks").contains("\"v3 # AVX-512 downclocks\""));
        assert!(err(b"cap =").contains("cap = \"\""));
        assert!(err(b"cap = V3").contains("\"V3\""));
        // Not KEY = VALUE.
        let e = err(b"\n\ncap v3\n");
        assert!(e.starts_with("line 3: \"cap v3\" is not KEY = VALUE"), "{e}");
        // Bytes that are not UTF-8 cannot break the line.
        assert!(err(b"cap = \xff\n").contains("\"\u{fffd}\""), "{}", err(b"cap = \xff\n"));
    }

    #[test]
    // `cap` takes x86-64 levels (refused elsewhere: below).
    #[cfg(target_arch = "x86_64")]
    fn duplicates_are_refused_naming_both_lines() {
        let e = err(b"cap = v3\nexec = auto\n cap=v3\n");
        assert_eq!(e, "line 3: cap is set again (first on line 1); keep one");
        assert!(err(b"exec = auto\nexec = no-memfd").contains("line 2: exec is set again (first on line 1)"));
    }

    #[test]
    // `cap` takes x86-64 levels (refused elsewhere: below).
    #[cfg(target_arch = "x86_64")]
    fn unknown_keys_are_kept_for_the_log_not_refused() {
        let s = ok("prefer = v3\ncap = v2\nother = 1");
        assert_eq!(s.cap, Some(Level::V2));
        assert_eq!(s.unknown.map(|k| k.to_string()).as_deref(), Some("prefer"));
    }

    #[test]
    #[cfg(not(target_arch = "x86_64"))]
    fn cap_is_refused_off_x86_64() {
        assert_eq!(
            err(b"exec = auto\ncap = v3\n"),
            "line 2: cap is for x86-64 hosts (its values are x86-64 levels); remove it here"
        );
        ok("exec = no-memfd\n");
    }

    #[test]
    fn the_cap_only_lowers() {
        let level = |cpu| Level::of(cpu);
        let v4 = Level::V4.features();
        assert_eq!(level(capped(v4, Some(Level::V3))), Level::V3);
        assert_eq!(level(capped(Level::V2.features(), Some(Level::V3))), Level::V2);
        assert_eq!(level(capped(Level::V3.features(), None)), Level::V3);
        assert_eq!(level(capped(v4, Some(Level::V1))), Level::V1);
        // Features outside every level (here AES on an AVX-512 CPU) go too:
        // a variant that needs them is beyond a v3 cap.
        let aes = crate::arch::x86_64::index("aes").expect("aes is in the table");
        let cpu = v4.with(aes);
        assert!(!capped(cpu, Some(Level::V3)).contains(aes));
        assert!(capped(cpu, None).contains(aes));
    }
}
