//! The launcher of a rules_rust_multiarch bundle.
//!
//! A bundle is this launcher plus several builds of one program, its
//! *variants*: each a name, the rustc codegen flags that made it
//! (`-Ctarget-cpu`, `-Ctarget-feature`) and the CPU features those flags let
//! the build use. At start the launcher detects the features of the CPU and
//! OS ([`arch`]), starts the first variant, in the bundle's order (best
//! first), whose required features are all there ([`select`]), and execs it
//! as the same process: from a per-user cache file after the first run, or
//! from a sealed memfd.
//!
//! `multiarch pack` writes the crate root of a bundle: a `static` [`Bundle`]
//! and a call of [`entry!`]. The environment variables it obeys, the log line
//! and the exit code are documented in the repository's README.
//!
//! Module map: [`features`] (feature sets, architecture-neutral), [`arch`]
//! (per-architecture feature tables and detection), [`level`] (the psABI
//! levels as feature sets), [`select`] (the choice), [`mod@env`] (the
//! `MULTIARCH_*` variables), [`bundle`] (the embedded table and blobs),
//! [`codec`] and [`check`] (decoding and checking builds), [`cache`],
//! [`exec_linux`], [`walk`], [`tmpfile`] and [`writer`] (starting them),
//! [`sys`], [`rt`] and [`text`] (the runtime without std).

//! The launcher links neither std nor a C library (see [`sys`]): it adds
//! about 145 KB to a bundle built by Cargo (159 KB by Bazel, without
//! cross-crate LTO), statically linked, where a std one was 0.44 MB
//! dynamic or 1.2 MB static. [`entry!`] supplies the pieces a
//! program without a C runtime needs: `_start`, the `mem*` functions and the
//! panic handler.

#![cfg(all(any(target_arch = "x86_64", target_arch = "aarch64"), target_os = "linux"))]
#![cfg_attr(not(test), no_std)]
// With no heap, paths and messages are fixed-size buffers held by value:
// errors are large, but made only on the failure path, once per start.
#![allow(clippy::large_enum_variant, clippy::result_large_err)]

pub mod arch;
pub mod bundle;
pub mod cache;
pub mod check;
pub mod codec;
pub mod env;
pub mod exec_linux;
pub mod features;
pub mod hostconf;
pub mod level;
pub mod prepared;
#[doc(hidden)]
pub mod rt;
pub mod select;
pub mod sys;
pub mod text;
pub mod tmpfile;
pub mod walk;
pub mod writer;

pub use bundle::{Blob, Bundle, Compression, PageAligned, Variant};
pub use features::FeatureSet;
pub use level::Level;

use core::fmt::Write as _;
use env::{Config, ExecMode};
use exec_linux::{Args, Cache, ExecError, Lookup, Message};
use hostconf::HostExec;
use sys::Errno;
use text::{Buf, Escaped};

/// The exit status of every launcher failure, as `env(1)` uses for a
/// command that was found but could not be run.
pub const EXIT_FAILURE: i32 = 126;

/// Defines the entry point of a bundle, which starts [`main`] with `$bundle`.
///
/// The crate that calls it must be `#![no_std]` and `#![no_main]`, built with
/// `-Cpanic=abort`, and linked with `-nostartfiles`: the macro defines
/// `_start`, the `memcpy`/`memmove`/`memset`/`memcmp`/`bcmp`/`strlen` that compiled
/// code calls, and the panic handler. With `-Ctarget-feature=+crt-static` the
/// result is a static PIE that applies its own relocations at start; without,
/// a PIE that the dynamic loader relocates but that loads no library.
#[macro_export]
macro_rules! entry {
    ($bundle:expr) => {
        #[cfg(target_feature = "crt-static")]
        ::core::arch::global_asm!(
            $crate::__start_asm!(true),
            start = sym __multiarch_start,
        );
        #[cfg(not(target_feature = "crt-static"))]
        ::core::arch::global_asm!(
            $crate::__start_asm!(false),
            start = sym __multiarch_start,
        );

        extern "C" fn __multiarch_start(sp: *const usize) -> ! {
            // SAFETY: `_start` passes the initial stack pointer the kernel set.
            unsafe { $crate::rt::start(&$bundle, sp) }
        }

        #[panic_handler]
        fn __multiarch_panic(info: &::core::panic::PanicInfo<'_>) -> ! {
            $crate::rt::panic(info)
        }

        // Crates compiled to unwind (the precompiled `core`; the launcher
        // crate under Bazel, where the CLI links it too) name the unwinder's
        // entry points in their cleanup paths. The binary aborts on panic, so
        // nothing ever unwinds and these are never called.
        #[no_mangle]
        extern "C" fn rust_eh_personality() {}
        #[no_mangle]
        extern "C" fn _Unwind_Resume() -> ! {
            $crate::sys::exit($crate::EXIT_FAILURE)
        }

        $crate::__mem_functions!();
        $crate::__arch_symbols!();
    };
}

/// Runs the launcher: starts the chosen build and returns only on failure,
/// with [`EXIT_FAILURE`], or with 0 after `MULTIARCH_DEBUG=extract`.
///
/// # Safety
/// `argv` and `envp` must be the NULL-terminated arrays the kernel put on the
/// initial stack (the auxiliary vector follows `envp`), `argc` the length of
/// `argv`.
pub unsafe fn main(
    bundle: &'static Bundle,
    argc: usize,
    argv: *const *const u8,
    envp: *const *const u8,
) -> i32 {
    // SAFETY: forwarded from this function's own contract.
    let env = unsafe { rt::CStrings::new(envp) };
    // Only argv[0] is read (for a memfd's name); the array goes to execve as is.
    // SAFETY: as above; argv has argc entries before its NULL.
    let argv0 = if argc > 0 { unsafe { rt::CStrings::new(argv) }.next() } else { None };
    // SAFETY: as above.
    let secure = unsafe { sys::secure_mode(envp) };
    match run(bundle, Args { argv, envp }, env, argv0, secure) {
        Ok(()) => 0,
        Err(message) => {
            let mut line = Buf::<1200>::new();
            let _ = writeln!(line, "[multiarch] error: {message}");
            let _ = sys::write_all(2, line.as_bytes());
            EXIT_FAILURE
        }
    }
}

/// The log line's buffer: room for the passed-over notes of many variants.
const LOG_MAX: usize = 4096;

/// How the build was started, for the log line.
#[derive(Clone, Copy)]
enum Via {
    Prepared,
    Cache,
    NewCacheEntry,
    Memfd,
}

fn run(
    bundle: &'static Bundle,
    args: Args,
    env: rt::CStrings,
    argv0: Option<&[u8]>,
    secure: bool,
) -> Result<(), Message> {
    let config = if secure {
        Config::default()
    } else {
        Config::from_env(env.clone()).map_err(|e| bformat!(1024, "{e}"))?
    };
    // Root's settings for the host, read also in secure mode.
    let host = hostconf::load().map_err(|e| bformat!(1024, "{e}"))?;
    let detected = arch::native::detect();
    // The host's cap is a mask on the detected CPU, applied before selection.
    let cpu = hostconf::capped(detected, host.settings.cap);
    let mut request = config.request;
    // Extracting never runs the build, so any embedded variant may be asked for.
    request.force |= config.extract;
    let cap = bundle.cap.map(|c| c.features);
    let choice = select::select(cpu, cap, request, bundle.variants).map_err(|e| match host.settings.cap {
        // "This CPU" is the CPU as capped: say by what.
        Some(host_cap) => bformat!(1024, "{e} (the CPU as capped at {host_cap} by {})", hostconf::PATH),
        None => bformat!(1024, "{e}"),
    })?;
    let variant = &bundle.variants[choice.index];

    let mut notes = Buf::<1024>::new();
    if let Some(cap) = host.settings.cap {
        let _ = write!(notes, "; capped at {cap} by {}", hostconf::PATH);
    }
    if let Some(why) = &host.ignored {
        let _ = write!(notes, "; host settings ignored: {why}");
    }
    if let Some(key) = &host.settings.unknown {
        let _ =
            write!(notes, "; unknown key {} in {} ignored", text::Escaped(key.as_bytes()), hostconf::PATH);
    }
    if let (Some(_), Some(asked)) = (choice.fell_back_from, request.name) {
        let _ = write!(notes, "; MULTIARCH_LEVEL={asked} not embedded");
    }
    if !choice.forced_missing.is_empty() && !config.extract {
        let _ = write!(
            notes,
            "; forced above cpu, which lacks {}",
            choice.forced_missing.names(arch::native::name, " ")
        );
    }
    let log = |verb: &str, via: Option<Via>, extra: &dyn core::fmt::Display| {
        if !config.log {
            return;
        }
        let mut line = Buf::<LOG_MAX>::new();
        let _ = write!(line, "[multiarch] {verb} {} (cpu {}", variant.name, arch::CpuName(detected));
        if let Some(cap) = bundle.cap {
            let _ = write!(line, "; cap {}", cap.name);
        }
        let _ = write!(line, "; embedded {}", select::Embedded(bundle.variants));
        line.push(match via {
            None => b"",
            Some(Via::Prepared) => b"; via prepared install",
            Some(Via::Cache) => b"; via cache",
            Some(Via::NewCacheEntry) => b"; via cache, written now",
            Some(Via::Memfd) => b"; via memfd",
        });
        let _ = write!(line, "{notes}{extra}");
        // Why each better variant was not started.
        if choice.automatic {
            for (n, over) in bundle.variants[..choice.index].iter().enumerate() {
                let _ = write!(line, "{} {} (", if n == 0 { "; passed over" } else { "," }, over.name);
                let lacks = cpu.missing(over.requires);
                if lacks.is_empty() {
                    line.push(b"beyond the cap)");
                } else {
                    let _ = write!(line, "lacks {})", lacks.names(arch::native::name, " "));
                }
            }
        }
        // A line too long for the buffer (dozens of variants) is cut, but
        // still closed and ended.
        if line.as_bytes().len() + 2 >= LOG_MAX {
            line.truncate(LOG_MAX - 6);
            line.push(b"...");
        }
        let _ = writeln!(line, ")");
        let _ = sys::write_all(2, line.as_bytes());
    };

    if config.extract {
        log("extracting", None, &"");
        return extract(variant.blob);
    }

    let ways = Ways::new(if secure { None } else { Some(config.exec) }, host.settings.exec)?;
    let memfd = |extra: &dyn core::fmt::Display| {
        let name = exec_linux::memfd_name(argv0, bundle.program, variant.name);
        // Logged only once the memfd is ready: a start that fails before
        // prints its error line alone.
        let before_exec = || log("starting", Some(Via::Memfd), extra);
        match name.as_cstr() {
            Some(name) => exec_linux::exec_memfd(variant.blob, name, args, &before_exec),
            None => ExecError::Memfd(bformat!(1024, "bad memfd name")),
        }
    };

    // 1. A prepared install (issue 14): never written, never decoded.
    let mut prepared_note = Buf::<1024>::new();
    let mut prepared_err = bformat!(1024, "none");
    if ways.prepared {
        // Secure mode: only root's tree at the fixed root.
        let root = prepared::root((!secure).then(|| env.clone())).map_err(|e| bformat!(1024, "{e}"))?;
        let trusted = if secure { 0 } else { sys::geteuid() };
        match prepared::lookup(&root, variant.blob, bundle.program, trusted) {
            prepared::Found::Entry(entry) => {
                log("starting", Some(Via::Prepared), &"");
                return Err(bformat!(1024, "{}", exec_linux::exec_entry(&entry, args)));
            }
            prepared::Found::Absent => {
                prepared_err = bformat!(
                    1024,
                    "no entry {}/{}/{}",
                    root,
                    Escaped(&variant.blob.cache_key()),
                    bundle.program
                );
            }
            prepared::Found::Unusable(why) => {
                let _ = write!(prepared_note, "; prepared install unusable: {why}");
                prepared_err = why;
            }
        }
    }
    if !ways.cache && !ways.memfd {
        return Err(bformat!(
            1024,
            "could not start {} from a prepared install ({prepared_err}; {}); run `multiarch install` for this bundle",
            variant.name,
            ways.why_only
        ));
    }

    // 2. The per-user cache.
    let cache_err = if ways.cache {
        match try_cache(bundle, variant.blob, env, args, |via| log("starting", Some(via), &prepared_note)) {
            Ok(never) => match never {},
            Err(e) => Some(e),
        }
    } else {
        None
    };
    // A damaged build is as damaged in a memfd: say so once, without a
    // second decode.
    if let Some(ExecError::Decode(e)) = &cache_err {
        return Err(bformat!(1024, "{e}"));
    }
    if let (Some(cache_err), false) = (&cache_err, ways.memfd) {
        if ways.prepared {
            return Err(bformat!(
                1024,
                "could not start {} without a memfd ({}): tried a prepared install ({prepared_err}) and the cache ({cache_err})",
                variant.name,
                ways.why_only
            ));
        }
        return Err(bformat!(1024, "{cache_err} ({}; unset it to fall back to a memfd)", ways.why_only));
    }

    // 3. A sealed memfd.
    let Some(cache_err) = cache_err else {
        return Err(bformat!(1024, "{}", memfd(&prepared_note)));
    };
    let reason = match &cache_err {
        ExecError::Cache(why) => bformat!(1024, "{why}"),
        other => bformat!(1024, "{other}"),
    };
    let memfd_err = memfd(&format_args!("{prepared_note}; cache unusable: {reason}"));
    Err(bformat!(
        1024,
        "could not start {}: tried the cache ({cache_err}) and a memfd ({memfd_err})",
        variant.name
    ))
}

/// The ways a build may be started, in the order they are tried.
struct Ways {
    prepared: bool,
    cache: bool,
    memfd: bool,
    /// What allowed only the ways above, for messages.
    why_only: &'static str,
}

impl Ways {
    /// From `MULTIARCH_EXEC` (`None` in secure mode, where it is ignored)
    /// and the host's `exec` setting, which forbids memfds for every bundle.
    fn new(mode: Option<ExecMode>, host: HostExec) -> Result<Ways, Message> {
        let memfd = host != HostExec::NoMemfd;
        let by_host = "exec = no-memfd in /etc/multiarch.conf";
        let (prepared, cache, why_only) = match mode {
            // Secure mode: root's prepared install, else a memfd; never
            // the cache, which the invoker's environment would choose.
            None => (
                true,
                false,
                if memfd { "secure mode" } else { "secure mode and exec = no-memfd in /etc/multiarch.conf" },
            ),
            Some(ExecMode::Auto) => (true, true, by_host),
            Some(ExecMode::NoMemfd) => (true, true, "MULTIARCH_EXEC=no-memfd"),
            Some(ExecMode::Cache) => (false, true, "MULTIARCH_EXEC=cache"),
            Some(ExecMode::Prepared) => (true, false, "MULTIARCH_EXEC=prepared"),
            Some(ExecMode::Memfd) if !memfd => {
                return Err(bformat!(
                    1024,
                    "MULTIARCH_EXEC=memfd is refused on this host ({by_host}); unset it"
                ))
            }
            Some(ExecMode::Memfd) => return Ok(Ways { prepared: false, cache: false, memfd, why_only: "" }),
        };
        let memfd = memfd && matches!(mode, None | Some(ExecMode::Auto));
        Ok(Ways { prepared, cache, memfd, why_only })
    }
}

/// Starts `blob` from the cache, writing the entry first if needed.
fn try_cache(
    bundle: &'static Bundle,
    blob: &'static Blob,
    env: rt::CStrings,
    args: Args,
    log: impl Fn(Via),
) -> Result<core::convert::Infallible, ExecError> {
    let root = exec_linux::cache_root(env).ok_or_else(|| {
        ExecError::Cache(bformat!(1024, "neither XDG_CACHE_HOME nor HOME is an absolute path"))
    })?;
    let cache = Cache::new(root);
    let entry = match cache.lookup(blob, bundle.program)? {
        Lookup::Hit(entry) => {
            exec_linux::check_executable(&entry)?;
            log(Via::Cache);
            // The descriptor is run, so a rename or removal of the entry
            // after the lookup changes nothing.
            return Err(exec_linux::exec_entry(&entry, args));
        }
        Lookup::Miss => cache.install(bundle, blob)?,
    };
    exec_linux::check_executable(&entry)?;
    log(Via::NewCacheEntry);
    Err(exec_linux::exec_entry(&entry, args))
}

/// Writes the decoded build to stdout. A reader that goes away early is not
/// an error: `multiarch ... | head -c 4` exits 0.
fn extract(blob: &Blob) -> Result<(), Message> {
    // Setting a disposition to SIG_IGN installs no handler; this process
    // execs nothing afterwards, so the change reaches no program.
    sys::ignore_sigpipe();
    let bytes = blob.decode().map_err(|e| bformat!(1024, "{e}"))?;
    match sys::write_all(1, bytes.as_bytes()) {
        Ok(()) | Err(Errno::EPIPE) => Ok(()),
        Err(e) => Err(bformat!(1024, "cannot write the build to stdout: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ways(mode: Option<ExecMode>, host: HostExec) -> (bool, bool, bool) {
        let w = Ways::new(mode, host).unwrap_or_else(|e| panic!("{mode:?} {host:?}: {e}"));
        (w.prepared, w.cache, w.memfd)
    }

    #[test]
    fn ways_by_mode_secure_mode_and_host() {
        use ExecMode::*;
        let (t, f) = (true, false);
        for (mode, any_host, no_memfd_host) in [
            (Some(Auto), (t, t, t), (t, t, f)),
            (Some(Cache), (f, t, f), (f, t, f)),
            (Some(NoMemfd), (t, t, f), (t, t, f)),
            (Some(Prepared), (t, f, f), (t, f, f)),
            (Some(Memfd), (f, f, t), (f, f, f)),
            // Secure mode: root's tree, else a memfd; never the cache.
            (None, (t, f, t), (t, f, f)),
        ] {
            assert_eq!(ways(mode, HostExec::Auto), any_host, "{mode:?}");
            if mode == Some(Memfd) {
                let e = Ways::new(mode, HostExec::NoMemfd).err().map(|m| std::format!("{m}"));
                assert!(e.is_some_and(|e| e.contains("MULTIARCH_EXEC=memfd is refused on this host")));
            } else {
                assert_eq!(ways(mode, HostExec::NoMemfd), no_memfd_host, "{mode:?}, exec = no-memfd");
            }
        }
    }
}
