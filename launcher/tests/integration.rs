//! Integration tests of the launcher (issue 2): real bundles from
//! `tests/build_fixtures.sh`, run as a user would, each test in its own
//! HOME and XDG_CACHE_HOME. What the payload reports is compared with a direct
//! run of the same build, and levels with std's feature detection and glibc.

// A panic is how a test fails; helpers outside `#[test]` fns expect too.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod util;

use multiarch_launcher::Level;
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use util::{
    assert_cache_fallback, cache_key, chmod, describe, exec_raw, extra_fd, files_named, fixtures, host_level,
    launcher_lines, ld_so_level, log_exact, log_line, os, qemu, read_only_in_child, run, run_ok, stderr,
    write_file, Bundle, Report, Sandbox,
};

/// The two ways of starting a build, as `MULTIARCH_EXEC` names them.
const MODES: [&str; 2] = ["cache", "memfd"];

/// The user a test hands files to, to make them foreign-owned.
const NOBODY: u32 = 65534;

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Runs `bundle report` with `MULTIARCH_DEBUG=log` and these variables.
fn report_cmd(sb: &Sandbox, bundle: Bundle, vars: &[(&str, &str)]) -> Command {
    let mut cmd = sb.bundle(bundle);
    cmd.arg("report").env("MULTIARCH_DEBUG", "log").envs(vars.iter().copied());
    cmd
}

// --- what passes through to the program ------------------------------------

#[test]
fn argv_passes_through_byte_for_byte() {
    let sb = Sandbox::new("argv");
    let args: [&[u8]; 5] = [b"report", b"", b"two words", b"\xff\xfe not utf-8", b"--x=\x01\n\t"];
    for bundle in [Bundle::Full, Bundle::Dynamic] {
        for mode in MODES {
            for arg0 in [&b"custom-argv0"[..], b"/no/such/dir/\xc3\x28-not-utf-8", b""] {
                let mut cmd = sb.bundle(bundle);
                cmd.arg0(os(arg0)).args(args.iter().map(|a| os(a))).env("MULTIARCH_EXEC", mode);
                let report = Report::parse(&run(&mut cmd));
                let want: Vec<Vec<u8>> = std::iter::once(arg0).chain(args).map(<[u8]>::to_vec).collect();
                assert_eq!(report.args, want, "{bundle:?} via {mode}");
            }
        }
    }
}

#[test]
fn environment_passes_through_byte_for_byte() {
    let sb = Sandbox::new("env");
    let level = host_level();
    for bundle in [Bundle::Full, Bundle::Dynamic] {
        for mode in MODES {
            let home = format!("HOME={}", sb.home.display());
            let xdg = format!("XDG_CACHE_HOME={}", sb.xdg.display());
            let exec = format!("MULTIARCH_EXEC={mode}");
            let envp: Vec<&[u8]> = vec![
                b"PATH=/usr/bin:/bin",
                home.as_bytes(),
                b"NON_UTF8=\xff\xfe\x80",
                b"NO_EQUALS_SIGN",
                b"MULTIARCH_LEVEL",
                b"EMPTY=",
                b"DUP=first",
                b"SPACES=  a b  ",
                xdg.as_bytes(),
                b"DUP=second",
                exec.as_bytes(),
                b"=starts-with-equals",
            ];
            let argv: [&[u8]; 2] = [b"payload", b"report"];
            let run_raw = |path: &Path| {
                let mut cmd = Command::new(path);
                exec_raw(&mut cmd, path, &argv, &envp);
                Report::parse(&run(&mut cmd))
            };
            let direct = run_raw(&fixtures().payload(level));
            let launched = run_raw(&fixtures().bundle(bundle));
            let want: Vec<Vec<u8>> = envp.iter().map(|e| e.to_vec()).collect();
            assert_eq!(direct.env, want, "the payload reports its environment as given");
            assert_eq!(launched.env, want, "{bundle:?} via {mode}");
            assert_eq!(launched.args, direct.args);
        }
    }
}

#[test]
fn stdin_passes_through() {
    let sb = Sandbox::new("stdin");
    // Larger than a pipe buffer, with every byte value. It ends with a
    // newline: the payload's C `main` skips std's exit-time flush of stdout,
    // so `cat` loses whatever follows the last newline (a payload bug).
    let mut data: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    data.push(b'\n');
    for (what, mut cmd) in [
        ("direct", sb.payload(host_level())),
        ("cache", sb.bundle(Bundle::Full)),
        ("memfd", sb.bundle(Bundle::Full)),
    ] {
        let mut child = cmd
            .arg("cat")
            .env("MULTIARCH_EXEC", what)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stdin = child.stdin.take().expect("stdin");
        let input = data.clone();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().expect("wait");
        writer.join().expect("writer").expect("write stdin");
        assert!(out.status.success(), "{}", describe(&out));
        assert!(out.stdout == data, "stdout differs from stdin, {what} ({} bytes)", out.stdout.len());
    }
}

#[test]
fn exit_code_passes_through() {
    let sb = Sandbox::new("exit");
    for mode in MODES {
        for code in [0, 1, 42, 125, 255] {
            let out =
                run(sb.bundle(Bundle::Full).args(["exit", &code.to_string()]).env("MULTIARCH_EXEC", mode));
            assert_eq!(out.status.code(), Some(code), "via {mode}: {}", describe(&out));
        }
    }
}

#[test]
fn signal_passes_through() {
    let sb = Sandbox::new("signal");
    for mode in MODES {
        for sig in [libc::SIGTERM, libc::SIGUSR1, libc::SIGKILL] {
            let direct = run(sb.payload(host_level()).args(["kill", &sig.to_string()]));
            assert_eq!(direct.status.signal(), Some(sig), "direct run: {}", describe(&direct));
            let out =
                run(sb.bundle(Bundle::Full).args(["kill", &sig.to_string()]).env("MULTIARCH_EXEC", mode));
            assert_eq!(out.status.signal(), Some(sig), "via {mode}: {}", describe(&out));
        }
    }
}

#[test]
fn program_keeps_the_launchers_pid() {
    let sb = Sandbox::new("pid");
    for bundle in [Bundle::Full, Bundle::Dynamic] {
        for mode in MODES {
            let child = sb
                .bundle(bundle)
                .arg("report")
                .env("MULTIARCH_EXEC", mode)
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn");
            let pid = child.id();
            let report = Report::parse(&child.wait_with_output().expect("wait"));
            assert_eq!(report.pid, pid, "{bundle:?} via {mode}");
        }
    }
}

#[test]
fn proc_self_exe_is_the_cache_entry_or_the_memfd() {
    let sb = Sandbox::new("exe");
    let level = host_level();
    for bundle in [Bundle::Full, Bundle::Dynamic, Bundle::V1V3] {
        let picked = bundle.pick(level);
        let report = Report::parse(&run(sb.bundle(bundle).arg("report").env("MULTIARCH_EXEC", "cache")));
        let entry = sb.entry(bundle, picked);
        assert_eq!(report.exe, entry, "{bundle:?}");
        let name =
            entry.parent().and_then(|p| p.file_name()).expect("hash dir").to_string_lossy().into_owned();
        assert!(name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
        assert_eq!(report.level, picked.cpu_name());

        // A memfd is named after argv[0] and the level.
        let report = Report::parse(&run(sb
            .bundle(bundle)
            .arg0("my tool")
            .arg("report")
            .env("MULTIARCH_EXEC", "memfd")));
        assert_eq!(report.exe_str(), format!("/memfd:my tool [{picked}] (deleted)"), "{bundle:?}");
        // A long argv[0] is cut to the kernel's limit of a memfd name; the
        // level stays.
        let long = "a".repeat(400);
        let report =
            Report::parse(&run(sb.bundle(bundle).arg0(&long).arg("report").env("MULTIARCH_EXEC", "memfd")));
        let exe = report.exe_str();
        let name = exe.strip_prefix("/memfd:").and_then(|e| e.strip_suffix(" (deleted)")).expect("memfd");
        let head = name.strip_suffix(&format!(" [{picked}]")).expect("level suffix");
        assert!(!head.is_empty() && long.starts_with(head), "{exe}");
        // Without a custom argv[0], std passes the path it ran.
        let path = fixtures().bundle(bundle);
        let report = Report::parse(&run(sb.bundle(bundle).arg("report").env("MULTIARCH_EXEC", "memfd")));
        assert_eq!(report.exe_str(), format!("/memfd:{} [{picked}] (deleted)", path.display()));
    }
}

#[test]
fn sigpipe_disposition_is_inherited_not_forced() {
    let sb = Sandbox::new("sigpipe");
    let mut seen = Vec::new();
    for ignore in [false, true] {
        let with = |mut cmd: Command| {
            if ignore {
                util::ignore_sigpipe(&mut cmd);
            }
            Report::parse(&run(cmd.arg("report")))
        };
        let direct = with(sb.payload(host_level())).sigpipe;
        for bundle in [Bundle::Full, Bundle::Dynamic] {
            for mode in MODES {
                let mut cmd = sb.bundle(bundle);
                cmd.env("MULTIARCH_EXEC", mode);
                let launched = with(cmd).sigpipe;
                assert_eq!(launched, direct, "{bundle:?} via {mode}, parent ignores SIGPIPE: {ignore}");
            }
        }
        seen.push(direct);
    }
    // The two set-ups differ (std resets SIGPIPE to default in children; the
    // hook sets it to ignore), so both dispositions were checked.
    assert_eq!(seen, ["default", "ignore"]);
}

#[test]
fn open_fds_pass_through_and_none_leak() {
    let sb = Sandbox::new("fds");
    let level = host_level();
    let not_a_dir = sb.dir.join("xdg-file");
    write_file(&not_a_dir, b"not a directory");
    for extra in [None, Some(7), Some(100)] {
        let with = |mut cmd: Command| {
            if let Some(fd) = extra {
                extra_fd(&mut cmd, fd);
            }
            Report::parse(&run(cmd.arg("report"))).fds
        };
        let direct = with(sb.payload(level));
        if let Some(fd) = extra {
            assert!(direct.contains(&(fd as u32)), "{direct:?}");
        }
        for bundle in [Bundle::Full, Bundle::Dynamic] {
            let _ = fs::remove_dir_all(sb.cache_root());
            // Cold cache (the entry is written first), warm cache, memfd, and
            // a memfd after the cache failed (XDG_CACHE_HOME is a file).
            for mode in ["auto", "cache", "memfd", "fallback"] {
                let mut cmd = sb.bundle(bundle);
                if mode == "fallback" {
                    cmd.env("XDG_CACHE_HOME", &not_a_dir);
                } else {
                    cmd.env("MULTIARCH_EXEC", mode);
                }
                assert_eq!(with(cmd), direct, "{bundle:?} via {mode}, extra fd {extra:?}");
            }
        }
    }
}

// --- the log line and extraction --------------------------------------------

#[test]
fn host_level_agrees_with_glibc() {
    assert_eq!(ld_so_level(&[]), host_level(), "std's detection and ld.so --help disagree");
}

#[test]
fn log_line_names_level_cpu_embedded_and_how() {
    let sb = Sandbox::new("log");
    let cpu = host_level();
    for bundle in [Bundle::Full, Bundle::Dynamic, Bundle::V1V3] {
        let level = bundle.pick(cpu);
        for (vars, via) in [
            (&[][..], "via cache, written now"),
            (&[][..], "via cache"),
            (&[("MULTIARCH_EXEC", "cache")][..], "via cache"),
            (&[("MULTIARCH_EXEC", "memfd")][..], "via memfd"),
        ] {
            let out = run(&mut report_cmd(&sb, bundle, vars));
            assert_eq!(log_line(&out), log_exact(level, cpu, bundle, via), "{bundle:?} {vars:?}");
            assert_eq!(Report::parse(&out).level, level.cpu_name());
        }
    }
    // Without MULTIARCH_DEBUG the launcher says nothing.
    let out = run_ok(sb.bundle(Bundle::Full).arg("report"));
    assert_eq!(stderr(&out), "");
}

#[test]
fn host_with_avx512_starts_the_v4_build() {
    if host_level() < Level::V4 {
        eprintln!("SKIP host_with_avx512_starts_the_v4_build: this host lacks AVX-512 ({})", host_level());
        return;
    }
    let sb = Sandbox::new("v4");
    let report = Report::parse(&run(sb.bundle(Bundle::Full).arg("report")));
    assert_eq!(report.level, Level::V4.cpu_name());
}

#[test]
fn extract_writes_the_chosen_build_byte_for_byte() {
    let sb = Sandbox::new("extract");
    for bundle in [Bundle::Full, Bundle::Dynamic, Bundle::V1V3] {
        let mut targets: Vec<Option<Level>> = Level::ALL.iter().copied().map(Some).collect();
        targets.push(None);
        for target in targets {
            let mut cmd = sb.bundle(bundle);
            cmd.env("MULTIARCH_DEBUG", "extract");
            if let Some(level) = target {
                cmd.env("MULTIARCH_LEVEL", level.short_name());
            }
            let out = run_ok(&mut cmd);
            let picked = bundle.pick(target.unwrap_or_else(host_level));
            let want = fs::read(fixtures().payload(picked)).expect("read payload");
            assert!(out.stdout == want, "{bundle:?} {target:?}: stdout is not payload-{picked}");
            assert_eq!(stderr(&out), "");
        }
    }
    // Extraction runs nothing from the cache and writes nothing to it.
    assert!(!sb.cache_root().exists());

    let out =
        run_ok(sb.bundle(Bundle::Full).env("MULTIARCH_DEBUG", "log,extract").env("MULTIARCH_LEVEL", "v1"));
    let line = log_line(&out);
    let embedded: Vec<&str> = Bundle::Full.levels().iter().map(|l| l.short_name()).collect();
    let want = format!(
        "[multiarch] extracting {} (cpu {}; embedded {})",
        Level::V1,
        host_level(),
        embedded.join(" ")
    );
    assert_eq!(line, want);
}

#[test]
fn extract_into_a_closed_pipe_exits_0() {
    let sb = Sandbox::new("extract-pipe");
    for level in ["v1", "v3"] {
        let mut child = sb
            .bundle(Bundle::Full)
            .env("MULTIARCH_DEBUG", "extract")
            .env("MULTIARCH_LEVEL", level)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // Read one byte, like `| head -c 1`, then close the reader; the build
        // is larger than the pipe buffer, so the launcher does hit EPIPE.
        let mut stdout = child.stdout.take().expect("stdout");
        let mut first = [0u8; 1];
        stdout.read_exact(&mut first).expect("first byte");
        assert_eq!(first[0], 0x7f, "an ELF file starts with 0x7f");
        drop(stdout);
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(0), "{}: {}", describe(&out), stderr(&out));
        assert_eq!(stderr(&out), "");
    }
}

// --- MULTIARCH_LEVEL ---------------------------------------------------------

#[test]
fn forced_level_at_or_below_the_cpu() {
    let sb = Sandbox::new("forced");
    let cpu = host_level();
    for level in Level::ALL.into_iter().filter(|&l| l <= cpu) {
        // The first run of a level writes its entry; the second reuses it.
        for (spelling, via) in
            [(level.short_name(), "via cache, written now"), (level.cpu_name(), "via cache")]
        {
            let out = run(&mut report_cmd(&sb, Bundle::Full, &[("MULTIARCH_LEVEL", spelling)]));
            assert_eq!(Report::parse(&out).level, level.cpu_name(), "MULTIARCH_LEVEL={spelling}");
            assert_eq!(
                log_line(&out),
                log_exact(level, cpu, Bundle::Full, via),
                "MULTIARCH_LEVEL={spelling}"
            );
        }
    }
    // An empty value is the same as unset.
    let out =
        run(&mut report_cmd(&sb, Bundle::Full, &[("MULTIARCH_LEVEL", ""), ("MULTIARCH_EXEC", "memfd")]));
    assert_eq!(log_line(&out), log_exact(cpu, cpu, Bundle::Full, "via memfd"));
}

#[test]
fn invalid_values_exit_126_with_one_line() {
    let sb = Sandbox::new("invalid");
    for bad in [&b"v5"[..], b"native", b"x86-64-v5", b"V3", b"v3 ", b"\xff"] {
        let out = run(sb.bundle(Bundle::Full).arg("report").env("MULTIARCH_LEVEL", os(bad)));
        assert_eq!(out.status.code(), Some(126), "MULTIARCH_LEVEL={bad:?}: {}", describe(&out));
        assert!(out.stdout.is_empty(), "the program must not run");
        let value = String::from_utf8_lossy(bad);
        let want = format!(
            "[multiarch] error: MULTIARCH_LEVEL={value:?} is not valid (accepted: {})\n",
            Level::ACCEPTED
        );
        assert_eq!(stderr(&out), want);
    }
    for (var, bad) in [("MULTIARCH_EXEC", "disk"), ("MULTIARCH_DEBUG", "verbose"), ("MULTIARCH_FORCE", "yes")]
    {
        let out = run(sb.bundle(Bundle::Full).arg("report").env(var, bad));
        assert_eq!(out.status.code(), Some(126), "{var}={bad}: {}", describe(&out));
        assert!(out.stdout.is_empty());
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with(&format!("[multiarch] error: {var}={bad:?} is not valid (accepted: ")),
            "{err}"
        );
    }
}

/// Requires the refusal of a level above the CPU.
fn assert_refused(out: &std::process::Output, level: Level, cpu: Level) {
    assert_eq!(out.status.code(), Some(126), "MULTIARCH_LEVEL={level} on {cpu}: {}", describe(out));
    assert!(out.stdout.is_empty(), "the program must not run");
    let lines = launcher_lines(out);
    assert_eq!(lines.len(), 1, "{}", stderr(out));
    let line = &lines[0];
    assert!(line.starts_with("[multiarch] error: "), "{line}");
    assert!(line.contains(&format!("MULTIARCH_LEVEL={}", level.short_name())), "{line}");
    assert!(line.contains("MULTIARCH_FORCE=1"), "{line}");
    assert!(line.contains(cpu.cpu_name()), "{line}");
}

#[test]
fn forced_level_above_the_cpu_is_refused() {
    let sb = Sandbox::new("above");
    let cpu = host_level();
    let above: Vec<Level> = Level::ALL.into_iter().filter(|&l| l > cpu).collect();
    for &level in &above {
        for spelling in [level.short_name(), level.cpu_name()] {
            let out = run(&mut report_cmd(&sb, Bundle::Full, &[("MULTIARCH_LEVEL", spelling)]));
            assert_refused(&out, level, cpu);
        }
    }
    if above.is_empty() {
        eprintln!("native case skipped: the host is {cpu}; the qemu case below covers it");
    }

    // Under qemu's Haswell model (the levels it supports come from glibc).
    let Some(qemu) = qemu() else { return };
    let runner = [qemu.as_os_str(), OsStr::new("-cpu"), OsStr::new("Haswell")];
    let model = ld_so_level(&runner);
    assert!(model < Level::V4, "qemu's Haswell model has AVX-512?");
    let bundle_path = fixtures().bundle(Bundle::Full);
    let qemu_cmd = |vars: &[(&str, &str)]| {
        let mut cmd = sb.command(qemu);
        cmd.args(["-cpu", "Haswell"]).arg(&bundle_path).arg("report").env("MULTIARCH_DEBUG", "log");
        cmd.envs(vars.iter().copied());
        cmd
    };
    for level in Level::ALL.into_iter().filter(|&l| l > model) {
        assert_refused(&run(&mut qemu_cmd(&[("MULTIARCH_LEVEL", level.short_name())])), level, model);
    }
    // Extraction runs nothing, so it may take any level.
    for level in Level::ALL.into_iter().filter(|&l| l > model) {
        let mut cmd = qemu_cmd(&[("MULTIARCH_LEVEL", level.short_name()), ("MULTIARCH_DEBUG", "extract")]);
        let out = run(&mut cmd);
        assert_eq!(out.status.code(), Some(0), "extract {level} on {model}: {}", describe(&out));
        let want = fs::read(fixtures().payload(level)).expect("payload");
        assert!(out.stdout == want, "extract {level} on {model}: not payload-{level}");
    }
    // MULTIARCH_FORCE=1 starts it anyway. qemu-user hands the launcher's
    // execve to the host kernel, so the build runs natively: only possible
    // where the host has the level.
    if cpu > model {
        let out = run(&mut qemu_cmd(&[
            ("MULTIARCH_LEVEL", cpu.short_name()),
            ("MULTIARCH_FORCE", "1"),
            ("MULTIARCH_EXEC", "memfd"),
        ]));
        let want = format!("{}; forced above cpu)", util::log_prefix(cpu, model, Bundle::Full, "via memfd"));
        assert_eq!(log_line(&out), want);
        assert_eq!(Report::parse(&out).level, cpu.cpu_name());
    }
}

#[test]
fn forced_level_not_embedded_falls_back_below() {
    let sb = Sandbox::new("not-embedded");
    let cpu = host_level();
    for asked in Level::ALL.into_iter().filter(|&l| l <= cpu) {
        let out = run(&mut report_cmd(
            &sb,
            Bundle::V1V3,
            &[("MULTIARCH_LEVEL", asked.short_name()), ("MULTIARCH_EXEC", "memfd")],
        ));
        let got = Bundle::V1V3.pick(asked);
        assert_eq!(Report::parse(&out).level, got.cpu_name(), "MULTIARCH_LEVEL={asked}");
        let note = if got == asked {
            String::new()
        } else {
            format!("; MULTIARCH_LEVEL={} not embedded", asked.short_name())
        };
        let want = format!("{}{note})", util::log_prefix(got, cpu, Bundle::V1V3, "via memfd"));
        assert_eq!(log_line(&out), want);
    }
}

// --- the cache ---------------------------------------------------------------

#[test]
fn cache_entry_is_created_private_and_complete() {
    let sb = Sandbox::new("cache-new");
    let level = host_level();
    let out = run(&mut report_cmd(&sb, Bundle::Full, &[]));
    assert_eq!(log_line(&out), log_exact(level, level, Bundle::Full, "via cache, written now"));

    let root = fs::symlink_metadata(sb.cache_root()).expect("cache root");
    assert!(root.is_dir());
    assert_eq!(root.mode() & 0o7777, 0o700, "cache root mode {:o}", root.mode());
    assert_eq!(root.uid(), euid());

    let entry = sb.entry(Bundle::Full, level);
    assert_eq!(Report::parse(&out).exe, entry);
    let meta = fs::symlink_metadata(&entry).expect("entry");
    assert!(meta.is_file());
    assert_eq!(meta.uid(), euid());
    assert_eq!(meta.mode() & 0o022, 0, "entry mode {:o}", meta.mode());
    let payload = fs::read(fixtures().payload(level)).expect("payload");
    assert_eq!(meta.len(), payload.len() as u64);
    assert!(fs::read(&entry).expect("read entry") == payload, "the entry is not payload-{level}");
    let hash_dir = fs::symlink_metadata(entry.parent().expect("hash dir")).expect("hash dir");
    assert_eq!(hash_dir.mode() & 0o077, 0, "hash dir mode {:o}", hash_dir.mode());

    let dirs: Vec<_> = fs::read_dir(sb.cache_root())
        .expect("read root")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dirs, [cache_key(&fixtures().payload(level))]);
    assert_eq!(files_named(&sb.dir, ".tmp."), Vec::<PathBuf>::new());
}

#[test]
fn cache_root_comes_from_xdg_cache_home_else_home() {
    let sb = Sandbox::new("cache-root");
    let level = host_level();
    let entry_under =
        |root: &Path| root.join(cache_key(&fixtures().payload(level))).join(Bundle::Full.program());
    let home_root = sb.home.join(".cache/multiarch");
    // XDG_CACHE_HOME unset, or relative (the XDG spec says to ignore that).
    for xdg in [None, Some("relative/cache")] {
        let mut cmd = report_cmd(&sb, Bundle::Full, &[]);
        cmd.env_remove("XDG_CACHE_HOME");
        if let Some(x) = xdg {
            cmd.env("XDG_CACHE_HOME", x);
        }
        assert_eq!(Report::parse(&run(&mut cmd)).exe, entry_under(&home_root), "XDG_CACHE_HOME={xdg:?}");
    }
    assert!(!sb.cache_root().exists());
    // Neither is usable: auto falls back to a memfd, cache mode fails.
    for mode in ["auto", "cache"] {
        let mut cmd = report_cmd(&sb, Bundle::Full, &[("MULTIARCH_EXEC", mode), ("HOME", "relative")]);
        cmd.env_remove("XDG_CACHE_HOME");
        let out = run(&mut cmd);
        if mode == "auto" {
            assert_cache_fallback(&out, level, level, Bundle::Full, &["HOME"]);
        } else {
            assert_eq!(out.status.code(), Some(126), "{}", describe(&out));
        }
    }
}

/// The cache's modes are the launcher's, not the umask's: under a umask
/// that strips the owner's execute bit the entry must still be startable, and
/// reused on the next run rather than rewritten.
#[test]
fn cache_works_under_any_umask() {
    let level = host_level();
    for mask in [0o000, 0o077, 0o177] {
        let sb = Sandbox::new("umask");
        let with_umask = || {
            let mut cmd = report_cmd(&sb, Bundle::Full, &[]);
            util::umask_in_child(&mut cmd, mask);
            run(&mut cmd)
        };
        let out = with_umask();
        let want = log_exact(level, level, Bundle::Full, "via cache, written now");
        assert_eq!(launcher_lines(&out), [want], "umask {mask:03o}");
        let entry = sb.entry(Bundle::Full, level);
        assert_eq!(Report::parse(&out).exe, entry, "umask {mask:03o}");
        let root = fs::metadata(sb.cache_root()).expect("root");
        assert_eq!(root.mode() & 0o7777, 0o700, "umask {mask:03o}: root mode {:o}", root.mode());
        let ino = fs::metadata(&entry).expect("entry").ino();
        let out = with_umask();
        let want = log_exact(level, level, Bundle::Full, "via cache");
        assert_eq!(launcher_lines(&out), [want], "umask {mask:03o}");
        assert_eq!(fs::metadata(&entry).expect("entry").ino(), ino, "umask {mask:03o}: entry rewritten");
    }
}

#[test]
fn concurrent_cold_starts_all_succeed() {
    let sb = Sandbox::new("concurrent");
    let level = host_level();
    let children: Vec<_> = (0..8)
        .map(|i| {
            let mut cmd = sb.bundle(if i % 4 == 3 { Bundle::Dynamic } else { Bundle::Full });
            cmd.arg("report").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn")
        })
        .collect();
    for child in children {
        let report = Report::parse(&child.wait_with_output().expect("wait"));
        assert_eq!(report.level, level.cpu_name());
        assert!(report.exe.starts_with(sb.cache_root()), "{:?} is not in the cache", report.exe);
    }
    let key = cache_key(&fixtures().payload(level));
    let mut entries: Vec<String> = files_named(&sb.cache_root(), "payload_")
        .iter()
        .map(|p| p.strip_prefix(sb.cache_root()).expect("under root").to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, [format!("{key}/payload_dynamic"), format!("{key}/payload_full")]);
    assert_eq!(files_named(&sb.dir, ".tmp."), Vec::<PathBuf>::new());
}

#[test]
fn cache_entry_is_reused_untouched() {
    let sb = Sandbox::new("cache-reuse");
    let level = host_level();
    run_ok(&mut report_cmd(&sb, Bundle::Full, &[]));
    let entry = sb.entry(Bundle::Full, level);
    let before = fs::metadata(&entry).expect("entry");
    std::thread::sleep(std::time::Duration::from_millis(20));
    for mode in ["auto", "cache"] {
        let out = run(&mut report_cmd(&sb, Bundle::Full, &[("MULTIARCH_EXEC", mode)]));
        assert_eq!(log_line(&out), log_exact(level, level, Bundle::Full, "via cache"));
        assert_eq!(Report::parse(&out).exe, entry);
    }
    let after = fs::metadata(&entry).expect("entry");
    let stamp = |m: &fs::Metadata| (m.ino(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec());
    assert_eq!(stamp(&after), stamp(&before), "the entry was rewritten");
}

#[test]
fn damaged_cache_entry_is_rewritten() {
    let sb = Sandbox::new("cache-repair");
    let level = host_level();
    let entry = sb.entry(Bundle::Full, level);
    let payload = fs::read(fixtures().payload(level)).expect("payload");
    type Damage = fn(&Path, &[u8]);
    let damages: [(&str, Damage); 5] = [
        ("truncated", |p, b| {
            fs::File::options()
                .write(true)
                .open(p)
                .and_then(|f| f.set_len(b.len() as u64 / 2))
                .expect("truncate")
        }),
        ("empty", |p, _| fs::File::create(p).map(drop).expect("empty")),
        ("grown", |p, _| {
            fs::File::options().append(true).open(p).and_then(|mut f| f.write_all(b"junk")).expect("append")
        }),
        ("group and other writable", |p, _| chmod(p, 0o777)),
        ("a symlink", |p, _| {
            fs::remove_file(p).expect("remove");
            std::os::unix::fs::symlink(fixtures().payload(host_level()), p).expect("symlink");
        }),
    ];
    for (what, damage) in damages {
        run_ok(&mut report_cmd(&sb, Bundle::Full, &[]));
        damage(&entry, &payload);
        let out = run(&mut report_cmd(&sb, Bundle::Full, &[]));
        assert_eq!(log_line(&out), log_exact(level, level, Bundle::Full, "via cache, written now"), "{what}");
        let report = Report::parse(&out);
        assert_eq!((report.level.as_str(), report.exe.as_path()), (level.cpu_name(), entry.as_path()));
        let meta = fs::symlink_metadata(&entry).expect("entry");
        assert!(meta.is_file() && meta.mode() & 0o022 == 0, "{what}: mode {:o}", meta.mode());
        assert!(fs::read(&entry).expect("read") == payload, "{what}: entry not repaired");
        assert_eq!(files_named(&sb.dir, ".tmp."), Vec::<PathBuf>::new());
    }
}

#[test]
fn foreign_owned_cache_is_not_trusted() {
    let level = host_level();
    if euid() != 0 {
        eprintln!("SKIP foreign_owned_cache_is_not_trusted: needs root to chown");
        return;
    }
    let chown = |p: &Path| std::os::unix::fs::lchown(p, Some(NOBODY), None).expect("chown");
    type Target = fn(&Sandbox) -> PathBuf;
    let cases: [(&str, Target, bool); 3] = [
        ("foreign root", |sb| sb.cache_root(), true),
        ("foreign entry", |sb| sb.entry(Bundle::Full, host_level()), true),
        ("root mode 0755", |sb| sb.cache_root(), false),
    ];
    for (what, target, foreign) in cases {
        let sb = Sandbox::new("foreign");
        run_ok(&mut report_cmd(&sb, Bundle::Full, &[]));
        let path = target(&sb);
        if foreign {
            chown(&path);
        } else {
            chmod(&path, 0o755);
        }
        let entry = sb.entry(Bundle::Full, level);
        let before = fs::read(&entry).expect("entry");
        let out = run(&mut report_cmd(&sb, Bundle::Full, &[]));
        let why = if foreign { format!("owned by uid {NOBODY}") } else { "mode 755".into() };
        assert_cache_fallback(
            &out,
            level,
            level,
            Bundle::Full,
            &[&path.to_string_lossy(), &why, "not trusted"],
        );

        let out = run(&mut report_cmd(&sb, Bundle::Full, &[("MULTIARCH_EXEC", "cache")]));
        assert_eq!(out.status.code(), Some(126), "{what}: {}", describe(&out));
        assert!(out.stdout.is_empty(), "{what}: the program ran");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("[multiarch] error: ") && err.contains("not trusted"), "{what}: {err}");
        // Left alone.
        assert!(fs::read(&entry).expect("entry") == before, "{what}: entry changed");
        let meta = fs::symlink_metadata(&path).expect("path");
        assert_eq!(meta.uid(), if foreign { NOBODY } else { euid() }, "{what}");
    }
}

#[test]
fn older_versions_are_removed_when_an_entry_is_written() {
    let sb = Sandbox::new("cache-gc");
    let level = host_level();
    let root = sb.cache_root();
    // Another build of this bundle: its entry must stay.
    let sibling = (level > Level::V1).then_some(Level::V1);
    if let Some(other) = sibling {
        run_ok(&mut report_cmd(&sb, Bundle::Full, &[("MULTIARCH_LEVEL", other.short_name())]));
    } else {
        run_ok(&mut report_cmd(&sb, Bundle::Dynamic, &[])); // creates the root
    }
    let old = root.join("0123456789abcdef0123456789abcdef");
    let shared = root.join("fedcba9876543210fedcba9876543210");
    let other_program = root.join("00000000000000000000000000000000");
    let not_a_hash = root.join("not-a-hash");
    for dir in [&old, &shared, &not_a_hash] {
        write_file(&dir.join("payload_full"), b"an older version");
    }
    write_file(&shared.join("payload_other"), b"another program's entry");
    write_file(&other_program.join("payload_dynamic"), b"another program");

    let out = run(&mut report_cmd(&sb, Bundle::Full, &[]));
    assert_eq!(log_line(&out), log_exact(level, level, Bundle::Full, "via cache, written now"));
    assert!(!old.exists(), "the older version's entry (and its directory) stayed");
    assert!(!shared.join("payload_full").exists(), "the older version's entry stayed");
    assert!(shared.join("payload_other").exists(), "another program's entry was removed");
    assert!(other_program.join("payload_dynamic").exists(), "another program's entry was removed");
    assert!(not_a_hash.join("payload_full").exists(), "a directory that is no hash was touched");
    assert!(sb.entry(Bundle::Full, level).exists());
    if let Some(other) = sibling {
        assert!(sb.entry(Bundle::Full, other).exists(), "this bundle's {other} entry was removed");
    }
}

#[test]
fn unusable_cache_location_falls_back_to_memfd() {
    let sb = Sandbox::new("cache-file");
    let level = host_level();
    // XDG_CACHE_HOME is a regular file: nothing can be created below it.
    fs::remove_dir(&sb.xdg).expect("rmdir");
    write_file(&sb.xdg, b"not a directory");
    let out = run(&mut report_cmd(&sb, Bundle::Full, &[]));
    assert_cache_fallback(&out, level, level, Bundle::Full, &[&sb.xdg.to_string_lossy()]);
    let out = run(&mut report_cmd(&sb, Bundle::Full, &[("MULTIARCH_EXEC", "cache")]));
    assert_eq!(out.status.code(), Some(126), "{}", describe(&out));
    assert!(stderr(&out).contains("MULTIARCH_EXEC=cache"), "{}", stderr(&out));
    assert_eq!(fs::read(&sb.xdg).expect("file"), b"not a directory");
}

#[test]
fn read_only_cache_falls_back_to_memfd() {
    let sb = Sandbox::new("cache-ro");
    let level = host_level();
    // Root may write to a 0500 directory, so a read-only bind mount (in the
    // child's own mount namespace) stands in for it.
    let ro = |vars: &[(&str, &str)]| {
        let mut cmd = report_cmd(&sb, Bundle::Full, vars);
        read_only_in_child(&mut cmd, &sb.xdg).then_some(cmd)
    };
    let Some(mut cmd) = ro(&[]) else { return };
    let out = run(&mut cmd);
    assert_cache_fallback(&out, level, level, Bundle::Full, &["Read-only file system"]);
    let out = run(&mut ro(&[("MULTIARCH_EXEC", "cache")]).expect("mount"));
    assert_eq!(out.status.code(), Some(126), "{}", describe(&out));
    assert!(!sb.cache_root().exists());

    // A complete entry is still started from a read-only cache...
    run_ok(&mut report_cmd(&sb, Bundle::Full, &[]));
    let out = run(&mut ro(&[]).expect("mount"));
    assert_eq!(log_line(&out), log_exact(level, level, Bundle::Full, "via cache"));
    // ...and a damaged one that cannot be rewritten is not.
    let entry = sb.entry(Bundle::Full, level);
    fs::File::options().write(true).open(&entry).and_then(|f| f.set_len(100)).expect("truncate");
    let out = run(&mut ro(&[]).expect("mount"));
    assert_cache_fallback(&out, level, level, Bundle::Full, &["Read-only file system"]);
    assert_eq!(files_named(&sb.dir, ".tmp."), Vec::<PathBuf>::new());
}

/// A cache on a `noexec` file system (a hardened /home) cannot start
/// anything: auto mode must fall back to a memfd and still log one line,
/// saying why; cache mode must fail with one line.
#[test]
fn noexec_cache_falls_back_to_memfd_with_one_log_line() {
    let sb = Sandbox::new("cache-noexec");
    let level = host_level();
    let noexec = |vars: &[(&str, &str)]| {
        let mut cmd = report_cmd(&sb, Bundle::Full, vars);
        util::remount_in_child(&mut cmd, &sb.xdg, libc::MS_NOEXEC).then_some(cmd)
    };
    // Cold (the entry gets written), then warm (the entry exists).
    for round in ["cold", "warm"] {
        let Some(mut cmd) = noexec(&[]) else { return };
        let out = run(&mut cmd);
        assert!(out.status.success(), "{round}: {}: {}", describe(&out), stderr(&out));
        assert_cache_fallback(&out, level, level, Bundle::Full, &["Permission denied"]);
    }
    let out = run(&mut noexec(&[("MULTIARCH_EXEC", "cache")]).expect("mount"));
    assert_eq!(out.status.code(), Some(126), "{}", describe(&out));
    let lines = launcher_lines(&out);
    assert_eq!(lines.len(), 1, "want only the error line:\n{}", stderr(&out));
    assert!(lines[0].starts_with("[multiarch] error: "), "{}", lines[0]);
}

#[test]
fn failed_write_leaves_no_temporary_file() {
    let sb = Sandbox::new("cache-tmp");
    let level = host_level();
    // The entry's path is a non-empty directory: the temporary file is
    // written, and the rename onto the entry fails.
    let entry = sb.entry(Bundle::Full, level);
    fs::create_dir_all(entry.join("blocker")).expect("mkdir");
    for dir in [sb.cache_root(), entry.parent().expect("hash dir").to_owned()] {
        chmod(&dir, 0o700);
    }
    let out = run(&mut report_cmd(&sb, Bundle::Full, &[]));
    assert_cache_fallback(&out, level, level, Bundle::Full, &[&entry.to_string_lossy()]);
    assert_eq!(files_named(&sb.dir, ".tmp."), Vec::<PathBuf>::new());

    let out = run(&mut report_cmd(&sb, Bundle::Full, &[("MULTIARCH_EXEC", "cache")]));
    assert_eq!(out.status.code(), Some(126), "{}", describe(&out));
    assert_eq!(files_named(&sb.dir, ".tmp."), Vec::<PathBuf>::new());
}

#[test]
fn memfd_mode_never_touches_the_cache() {
    let sb = Sandbox::new("memfd");
    let level = host_level();
    for bundle in [Bundle::Full, Bundle::Dynamic] {
        let out = run(&mut report_cmd(&sb, bundle, &[("MULTIARCH_EXEC", "memfd")]));
        assert_eq!(log_line(&out), log_exact(level, level, bundle, "via memfd"));
        let report = Report::parse(&out);
        assert!(report.exe_str().starts_with("/memfd:"), "{:?}", report.exe);
        assert_eq!(report.level, level.cpu_name());
    }
    assert!(!sb.cache_root().exists());
}

#[test]
fn secure_mode_ignores_the_environment_and_the_cache() {
    if euid() != 0 {
        eprintln!("SKIP secure_mode_ignores_the_environment_and_the_cache: needs root to make a setuid file");
        return;
    }
    let sb = Sandbox::new("secure");
    let level = host_level();
    // A setuid copy owned by nobody: run by root, it gets AT_SECURE.
    // Copied by install(1), not in this process: a thread of ours forking
    // while we held the file open for writing would make its exec fail with
    // ETXTBSY.
    let setuid = sb.dir.join("setuid-bundle");
    let mut install = Command::new("install");
    install.args(["-o", &NOBODY.to_string(), "-m", "4755"]).arg(fixtures().bundle(Bundle::Full)).arg(&setuid);
    run_ok(&mut install);
    // Writable for nobody, so only the launcher's choice keeps the cache out.
    for dir in [&sb.dir, &sb.xdg, &sb.home] {
        chmod(dir, 0o777);
    }
    for (var, value) in [
        ("MULTIARCH_DEBUG", "log"),
        ("MULTIARCH_DEBUG", "extract"),
        ("MULTIARCH_LEVEL", "v5"),
        ("MULTIARCH_LEVEL", "v1"),
        ("MULTIARCH_EXEC", "cache"),
    ] {
        let out = run(sb.command(&setuid).arg("report").env(var, value));
        assert!(out.status.success(), "{var}={value}: {}: {}", describe(&out), stderr(&out));
        assert_eq!(launcher_lines(&out), Vec::<String>::new(), "{var}={value}");
        let report = Report::parse(&out);
        assert_eq!(report.level, level.cpu_name(), "{var}={value}");
    }
    assert!(!sb.cache_root().exists(), "secure mode wrote to the cache");
    assert!(!sb.home.join(".cache").exists(), "secure mode wrote to the cache");
}

// --- real CPU models under qemu-user ----------------------------------------

#[test]
fn qemu_cpu_models_start_the_level_glibc_reports() {
    let Some(qemu) = qemu() else { return };
    let models = ["qemu64", "Nehalem", "Haswell"];
    /// A model's level per glibc, and per bundle the log line and the level started.
    type ModelRuns = (Level, Vec<(Bundle, String, String)>);
    let results: Vec<ModelRuns> = std::thread::scope(|s| {
        let handles: Vec<_> = models
            .iter()
            .map(|&model| {
                s.spawn(move || {
                    let runner = [qemu.as_os_str(), OsStr::new("-cpu"), OsStr::new(model)];
                    let cpu = ld_so_level(&runner);
                    let sb = Sandbox::new(&format!("qemu-{model}"));
                    let lines = [Bundle::Full, Bundle::V1V3].map(|bundle| {
                        let mut cmd = sb.command(qemu);
                        cmd.args(["-cpu", model]).arg(fixtures().bundle(bundle)).arg("report");
                        cmd.env("MULTIARCH_DEBUG", "log");
                        let out = run(&mut cmd);
                        (bundle, log_line(&out), Report::parse(&out).level)
                    });
                    (cpu, lines.to_vec())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    for (model, (cpu, runs)) in models.iter().zip(&results) {
        for (bundle, line, level) in runs {
            let want = bundle.pick(*cpu);
            assert_eq!(*line, log_exact(want, *cpu, *bundle, "via cache, written now"), "-cpu {model}");
            assert_eq!(level, want.cpu_name(), "-cpu {model}");
        }
    }
    // The three models cover three different levels.
    let cpus: Vec<Level> = results.iter().map(|r| r.0).collect();
    assert!(cpus.windows(2).all(|w| w[0] < w[1]), "{models:?} are {cpus:?}");
}

/// The launcher's CPUID-and-XCR0 detection against std's, which checks the
/// OS state too: on this host the two must agree.
#[test]
fn detection_agrees_with_std_on_this_host() {
    assert_eq!(multiarch_launcher::detect::detect(), host_level());
}

/// The launcher links no library: the static bundle has no ELF interpreter,
/// the dynamic one only ld.so, neither needs a shared library, and the
/// static one holds only the R_X86_64_RELATIVE relocations its `_start`
/// applies (launcher/src/rt.rs): any other type would go unapplied.
#[test]
fn launcher_links_no_library_and_relocates_itself() {
    let readelf = |flag: &str, bundle: Bundle| {
        let out = run_ok(Command::new("readelf").arg(flag).arg("-W").arg(fixtures().bundle(bundle)));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for bundle in [Bundle::Full, Bundle::Dynamic] {
        let dynamic = readelf("-d", bundle);
        assert!(!dynamic.contains("(NEEDED)"), "{bundle:?} needs a library:\n{dynamic}");
        let interp = readelf("-l", bundle).contains("Requesting program interpreter");
        assert_eq!(interp, bundle == Bundle::Dynamic, "{bundle:?}: interpreter {interp}");
    }
    let relocs = readelf("-r", Bundle::Full);
    let types: Vec<&str> = relocs
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter(|t| t.starts_with("R_X86_64"))
        .collect();
    assert!(!types.is_empty(), "no relocations read:\n{relocs}");
    assert!(types.iter().all(|&t| t == "R_X86_64_RELATIVE"), "{types:?}");
}

/// Builds of 4 MiB and more are decoded in steps while a second thread
/// writes them (launcher/src/writer.rs): the cache entry, the memfd and the
/// extracted bytes must all be the exact build, whichever level runs.
#[test]
fn big_builds_are_written_while_decoded() {
    let sb = Sandbox::new("big");
    let bundle = fixtures().file("big/big");
    let cpu = host_level();
    let level = if cpu >= Level::V4 { Level::V4 } else { Level::V1 };
    let want = fs::read(fixtures().file(&format!("big-payload-{}", level.cpu_name()))).expect("big payload");
    assert!(want.len() > 5 << 20, "the big payload is {} bytes", want.len());
    for forced in [Level::V1, level] {
        let out = run_ok(
            sb.command(&bundle).env("MULTIARCH_DEBUG", "extract").env("MULTIARCH_LEVEL", forced.short_name()),
        );
        let expected =
            fs::read(fixtures().file(&format!("big-payload-{}", forced.cpu_name()))).expect("payload");
        assert!(
            out.stdout == expected,
            "extract {forced}: {} bytes, want {}",
            out.stdout.len(),
            expected.len()
        );
    }
    for mode in MODES {
        let out = run_ok(sb.command(&bundle).arg("report").env("MULTIARCH_EXEC", mode));
        assert_eq!(Report::parse(&out).level, level.cpu_name(), "via {mode}");
    }
    let entry = files_named(&sb.cache_root(), "payload_big");
    assert_eq!(entry.len(), 1, "{entry:?}");
    assert!(fs::read(&entry[0]).expect("cache entry") == want, "cache entry differs from the build");
}
