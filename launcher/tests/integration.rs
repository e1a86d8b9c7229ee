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
    for bad in [&b"V3"[..], b"v3 ", b"\xff", b"-v3", b"a/b"] {
        let out = run(sb.bundle(Bundle::Full).arg("report").env("MULTIARCH_LEVEL", os(bad)));
        assert_eq!(out.status.code(), Some(126), "MULTIARCH_LEVEL={bad:?}: {}", describe(&out));
        assert!(out.stdout.is_empty(), "the program must not run");
        let value = String::from_utf8_lossy(bad);
        let want = format!(
            "[multiarch] error: MULTIARCH_LEVEL={value:?} is not valid (accepted: {})\n",
            multiarch_launcher::env::LEVEL_ACCEPTED
        );
        assert_eq!(stderr(&out), want);
    }
    // Valid names that name nothing in this bundle.
    for bad in ["v5", "native", "x86-64-v5", "znver4"] {
        let out = run(sb.bundle(Bundle::Full).arg("report").env("MULTIARCH_LEVEL", bad));
        assert_eq!(out.status.code(), Some(126), "MULTIARCH_LEVEL={bad:?}: {}", describe(&out));
        assert!(out.stdout.is_empty(), "the program must not run");
        let want = format!(
            "[multiarch] error: MULTIARCH_LEVEL={bad} names no variant of this bundle (embedded: v1 v2 v3 v4) \
             and no level (v1, v2, v3, v4, x86-64, x86-64-v2, x86-64-v3, x86-64-v4)\n"
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

/// Requires the refusal of a level above the CPU, asked for as `spelling`,
/// naming what the CPU lacks (at least one feature the level adds to the
/// CPU's).
fn assert_refused(out: &std::process::Output, spelling: &str, level: Level, cpu: Level) {
    assert_eq!(out.status.code(), Some(126), "MULTIARCH_LEVEL={level} on {cpu}: {}", describe(out));
    assert!(out.stdout.is_empty(), "the program must not run");
    let lines = launcher_lines(out);
    assert_eq!(lines.len(), 1, "{}", stderr(out));
    let line = &lines[0];
    let head = format!("[multiarch] error: MULTIARCH_LEVEL={spelling}: this CPU ({cpu}) lacks ");
    assert!(line.starts_with(&head), "{line}");
    let lacks = line[head.len()..].split(", which").next().unwrap_or("");
    assert!(!lacks.is_empty(), "{line}");
    for feature in lacks.split(' ') {
        let i =
            multiarch_launcher::arch::x86_64::index(feature).unwrap_or_else(|| panic!("{feature}: {line}"));
        assert!(level.features().contains(i) && !cpu.features().contains(i), "{feature}: {line}");
    }
    assert!(line.contains(&format!(", which {level} requires")), "{line}");
    assert!(line.contains("MULTIARCH_FORCE=1"), "{line}");
}

#[test]
fn forced_level_above_the_cpu_is_refused() {
    let sb = Sandbox::new("above");
    let cpu = host_level();
    let above: Vec<Level> = Level::ALL.into_iter().filter(|&l| l > cpu).collect();
    for &level in &above {
        for spelling in [level.short_name(), level.cpu_name()] {
            let out = run(&mut report_cmd(&sb, Bundle::Full, &[("MULTIARCH_LEVEL", spelling)]));
            assert_refused(&out, spelling, level, cpu);
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
        let spelling = level.short_name();
        assert_refused(&run(&mut qemu_cmd(&[("MULTIARCH_LEVEL", spelling)])), spelling, level, model);
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
        let prefix = format!(
            "{}; forced above cpu, which lacks ",
            util::log_prefix(cpu, model, Bundle::Full, "via memfd")
        );
        let line = log_line(&out);
        assert!(line.starts_with(&prefix) && line.ends_with(')'), "{line}");
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
/// OS state too: on this host the two must agree, feature by feature, for
/// every feature std can detect on stable Rust (all but a few).
#[test]
fn detection_agrees_with_std_on_this_host() {
    use multiarch_launcher::arch::x86_64;
    let cpu = x86_64::detect();
    assert_eq!(multiarch_launcher::Level::of(cpu), host_level());
    let mut compared = 0;
    for (i, def) in x86_64::FEATURES.iter().enumerate() {
        if let Some(std) = util::std_has(def.name) {
            assert_eq!(cpu.contains(i), std, "{}: the launcher and std disagree", def.name);
            compared += 1;
        }
    }
    assert!(compared >= 50, "only {compared} features compared");
}

// --- variants beyond the levels (issue 12) ----------------------------------

/// The fleet's variants as the launcher must rank them: more required
/// features (per rustc) first, ties in the order given to `pack`.
fn fleet_ranked() -> Vec<&'static str> {
    let mut ranked: Vec<(&str, usize)> =
        util::FLEET.iter().map(|&(name, cpu)| (name, util::rustc_features(cpu).len())).collect();
    ranked.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    ranked.into_iter().map(|(name, _)| name).collect()
}

/// The fleet's `embedded` list: lowest first, levels by their short names.
fn fleet_embedded() -> String {
    let short = |n: &'static str| Level::parse(n.as_bytes()).map_or(n, |l| l.short_name());
    fleet_ranked().into_iter().rev().map(short).collect::<Vec<_>>().join(" ")
}

fn fleet_cpu(name: &str) -> &'static str {
    util::FLEET.iter().find(|(n, _)| *n == name).map(|(_, cpu)| *cpu).expect("a fleet variant")
}

/// A bundle of `x86-64`, `x86-64-v3`, `znver4` and `sapphirerapids` starts
/// the first variant, in its ranking, whose features this host has (per
/// rustc and std's detection), and the log line names, for each variant
/// passed over, what the host lacks. On a Zen 4 host that is znver4.
#[test]
fn fleet_starts_the_first_variant_this_host_runs() {
    let sb = Sandbox::new("fleet");
    let ranked = fleet_ranked();
    let lacks: Vec<(&str, Vec<String>)> =
        ranked.iter().map(|&n| (n, util::host_lacks(fleet_cpu(n)))).collect();
    let want = lacks.iter().position(|(_, l)| l.is_empty()).expect("x86-64 runs everywhere");
    let name = lacks[want].0;
    let out = run(&mut report_cmd(&sb, Bundle::Fleet, &[("MULTIARCH_EXEC", "memfd")]));
    let report = Report::parse(&out);
    assert_eq!(report.build, name, "{}", stderr(&out));
    let line = log_line(&out);
    let cpu = host_level();
    assert_eq!(
        line,
        format!("[multiarch] starting {name} (cpu {cpu}; embedded {}; via memfd)", fleet_embedded())
    );
    let passed: Vec<(String, Vec<String>)> =
        lacks[..want].iter().map(|(n, l)| (n.to_string(), l.clone())).collect();
    assert_eq!(util::passed_over(&out), passed, "{}", util::full_log_line(&out));
    if name != "znver4" {
        let zen4 = util::host_lacks("znver4");
        eprintln!(
            "SKIP (in part) fleet_starts_the_first_variant_this_host_runs: this host lacks znver4's {} \
             (not a Zen 4), so it starts {name}; znver4 is checked by extraction only",
            zen4.join(" ")
        );
    }
}

/// Under qemu's CPU models the fleet starts `x86-64-v3` on Haswell and
/// `x86-64` on qemu64, passing over the rest.
#[test]
fn fleet_under_qemu_cpu_models() {
    let Some(qemu) = qemu() else { return };
    let sb = Sandbox::new("fleet-qemu");
    let ranked = fleet_ranked();
    for (model, want) in [("Haswell", "x86-64-v3"), ("qemu64", "x86-64")] {
        let mut cmd = sb.command(qemu);
        cmd.args(["-cpu", model]).arg(fixtures().bundle(Bundle::Fleet)).arg("report");
        cmd.env("MULTIARCH_DEBUG", "log").env("MULTIARCH_EXEC", "memfd");
        let out = run(&mut cmd);
        assert_eq!(Report::parse(&out).build, want, "-cpu {model}: {}", stderr(&out));
        let over: Vec<String> = util::passed_over(&out).into_iter().map(|(n, _)| n).collect();
        let before: Vec<&str> = ranked.iter().copied().take_while(|n| *n != want).collect();
        assert_eq!(over, before, "-cpu {model}");
        let line = log_line(&out);
        assert!(line.starts_with(&format!("[multiarch] starting {want} (cpu ")), "{line}");
    }
}

/// Each variant's extract is its build, byte for byte, whatever this host
/// runs (a level's short name works for a level variant).
#[test]
fn fleet_extracts_each_variant_byte_for_byte() {
    let sb = Sandbox::new("fleet-extract");
    for (name, _) in util::FLEET {
        let want = fs::read(fixtures().variant_payload(name)).expect("payload");
        let spellings = [Some(name), Level::parse(name.as_bytes()).map(|l| l.short_name())];
        for spelling in spellings.into_iter().flatten() {
            let out = run_ok(
                sb.bundle(Bundle::Fleet).env("MULTIARCH_DEBUG", "extract").env("MULTIARCH_LEVEL", spelling),
            );
            assert!(out.stdout == want, "MULTIARCH_LEVEL={spelling}: not payload-{name}");
        }
    }
    assert!(!sb.cache_root().exists());
}

/// `MULTIARCH_LEVEL` by variant name: started when the host has what it
/// requires, refused naming what it lacks, started anyway with
/// `MULTIARCH_FORCE=1` (only where the lack cannot crash the payload: AMX,
/// whose instructions compilers emit only for intrinsics); a level not
/// embedded falls back to the best variant within it.
#[test]
fn fleet_by_name_refused_forced_and_fallen_back() {
    let sb = Sandbox::new("fleet-name");
    let cpu = host_level();
    for (name, target_cpu) in util::FLEET {
        let lacks = util::host_lacks(target_cpu);
        let out = run(&mut report_cmd(
            &sb,
            Bundle::Fleet,
            &[("MULTIARCH_LEVEL", name), ("MULTIARCH_EXEC", "memfd")],
        ));
        if lacks.is_empty() {
            assert_eq!(Report::parse(&out).build, name);
            let line = log_line(&out);
            assert_eq!(
                line,
                format!("[multiarch] starting {name} (cpu {cpu}; embedded {}; via memfd)", fleet_embedded())
            );
            assert!(util::passed_over(&out).is_empty(), "asked by name: nothing passed over");
            continue;
        }
        assert_eq!(out.status.code(), Some(126), "{name}: {}", describe(&out));
        assert!(out.stdout.is_empty(), "the program must not run");
        let want = format!(
            "[multiarch] error: MULTIARCH_LEVEL={name}: this CPU ({cpu}) lacks {}, which {name} requires: that \
             build would die with SIGILL; set MULTIARCH_FORCE=1 to start it anyway\n",
            lacks.join(" ")
        );
        assert_eq!(stderr(&out), want);
        if lacks.iter().all(|f| f.starts_with("amx-")) {
            let out = run(&mut report_cmd(
                &sb,
                Bundle::Fleet,
                &[("MULTIARCH_LEVEL", name), ("MULTIARCH_FORCE", "1"), ("MULTIARCH_EXEC", "memfd")],
            ));
            assert_eq!(Report::parse(&out).build, name);
            assert!(log_line(&out)
                .ends_with(&format!("; via memfd; forced above cpu, which lacks {})", lacks.join(" "))));
        } else {
            eprintln!(
                "{name}: not forced here (this host lacks {}, which the payload may use)",
                lacks.join(" ")
            );
        }
    }
    // v4 is not embedded: the best variant whose requirements fit within it.
    let v4: Vec<String> = util::rustc_features("x86-64-v4");
    let within = fleet_ranked()
        .into_iter()
        .find(|n| util::rustc_features(fleet_cpu(n)).iter().all(|f| v4.contains(f)))
        .expect("x86-64 fits");
    if util::host_lacks(fleet_cpu(within)).is_empty() {
        let out = run(&mut report_cmd(
            &sb,
            Bundle::Fleet,
            &[("MULTIARCH_LEVEL", "v4"), ("MULTIARCH_EXEC", "memfd")],
        ));
        assert_eq!(Report::parse(&out).build, within);
        assert_eq!(
            log_line(&out),
            format!(
                "[multiarch] starting {within} (cpu {cpu}; embedded {}; via memfd; MULTIARCH_LEVEL=v4 not embedded)",
                fleet_embedded()
            )
        );
    }
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

// --- issue 10: hostile hosts -------------------------------------------------

/// The big bundle (builds of 6 MiB and more, so a cold start takes long
/// enough to be interrupted), the level it starts here, and its build.
fn big_bundle() -> (PathBuf, Level, Vec<u8>) {
    let level = if host_level() >= Level::V4 { Level::V4 } else { Level::V1 };
    let build = fs::read(fixtures().file(&format!("big-payload-{}", level.cpu_name()))).expect("big payload");
    (fixtures().file("big/big"), level, build)
}

/// Temporary files below `dir`, of any launcher version: names that start
/// with a dot and hold ".tmp".
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    files_named(dir, ".tmp")
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect()
}

/// Issue 10, defect 3: the cache is used only where every directory from `/`
/// down belongs to root or the user and no one else may write it (a sticky
/// directory such as /tmp excepted); a symbolic link is followed only if it
/// is root's or the user's. Before the fix only the root and the entry were
/// checked, so a cache below a world-writable directory was used.
#[test]
fn issue10_cache_below_a_directory_others_can_change_is_not_used() {
    let level = host_level();
    let sb = Sandbox::new("untrusted-above");
    let shared = sb.dir.join("shared");
    fs::create_dir(&shared).expect("mkdir");
    let xdg = shared.join("xdg");
    chmod(&shared, 0o777);
    let out = run(report_cmd(&sb, Bundle::Full, &[]).env("XDG_CACHE_HOME", &xdg));
    let why = format!("{} has mode 777, writable by others: not trusted", shared.display());
    assert_cache_fallback(&out, level, level, Bundle::Full, &[&why]);
    assert!(!xdg.exists(), "the launcher created a directory below an untrusted one");
    let out = run(report_cmd(&sb, Bundle::Full, &[("MULTIARCH_EXEC", "cache")]).env("XDG_CACHE_HOME", &xdg));
    assert_eq!(out.status.code(), Some(126), "{}", describe(&out));
    assert_eq!(launcher_lines(&out).len(), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains(&why), "{}", stderr(&out));
    // Group-writable is no better.
    chmod(&shared, 0o775);
    let out = run(report_cmd(&sb, Bundle::Full, &[]).env("XDG_CACHE_HOME", &xdg));
    assert_cache_fallback(&out, level, level, Bundle::Full, &["mode 775, writable by others: not trusted"]);

    // Sticky, as /tmp: others cannot rename what is ours, so it is used.
    chmod(&shared, 0o1777);
    let out = run(report_cmd(&sb, Bundle::Full, &[]).env("XDG_CACHE_HOME", &xdg));
    assert_eq!(log_line(&out), log_exact(level, level, Bundle::Full, "via cache, written now"));

    // Our own symbolic link is followed; the program sees the real path.
    let link = sb.dir.join("link-to-xdg");
    std::os::unix::fs::symlink(&sb.xdg, &link).expect("symlink");
    let out = run(report_cmd(&sb, Bundle::Full, &[]).env("XDG_CACHE_HOME", &link));
    assert_eq!(log_line(&out), log_exact(level, level, Bundle::Full, "via cache, written now"));
    assert_eq!(Report::parse(&out).exe, sb.entry(Bundle::Full, level));

    if euid() != 0 {
        eprintln!("SKIP the foreign-owner cases: need root to chown");
        return;
    }
    // Another user's symbolic link in the sticky directory, and another
    // user's directory above the cache.
    let planted = shared.join("planted");
    std::os::unix::fs::symlink(&sb.xdg, &planted).expect("symlink");
    std::os::unix::fs::lchown(&planted, Some(NOBODY), None).expect("lchown");
    let theirs = sb.dir.join("theirs");
    fs::create_dir(&theirs).expect("mkdir");
    std::os::unix::fs::lchown(&theirs, Some(NOBODY), None).expect("chown");
    for (xdg, at) in [(planted.clone(), planted), (theirs.join("xdg"), theirs.clone())] {
        let out = run(report_cmd(&sb, Bundle::Full, &[]).env("XDG_CACHE_HOME", &xdg));
        let why = format!("{} is owned by uid {NOBODY}, not by root or uid 0: not trusted", at.display());
        assert_cache_fallback(&out, level, level, Bundle::Full, &[&why]);
    }
    assert!(!theirs.join("xdg").exists());
}

/// Issue 10, defect 3, as reproduced: another user swaps the directory
/// holding the cache with their own (renameat2 RENAME_EXCHANGE in a loop)
/// while the victim (root) starts the bundle. Their file must never run.
/// Before the fix the swap could land between the check and the execve.
#[test]
fn issue10_swapping_directories_never_runs_another_users_file() {
    if euid() != 0 {
        eprintln!("SKIP issue10_swapping_directories_never_runs_another_users_file: needs root to chown");
        return;
    }
    let level = host_level();
    let sb = Sandbox::new("swap");
    let shared = sb.dir.join("shared");
    fs::create_dir(&shared).expect("mkdir");
    chmod(&shared, 0o777);
    let (mine, evil) = (shared.join("mine"), shared.join("evil"));
    fs::create_dir(&mine).expect("mkdir");
    run(report_cmd(&sb, Bundle::Full, &[]).env("XDG_CACHE_HOME", &mine));
    let marker = sb.dir.join("attacker-ran");
    let script =
        evil.join("multiarch").join(cache_key(&fixtures().payload(level))).join(Bundle::Full.program());
    write_file(&script, format!("#!/bin/sh\ntouch '{}'\necho level=attacker\n", marker.display()).as_bytes());
    chmod(&script, 0o755);
    for p in [&script, &evil.join("multiarch"), &evil] {
        std::os::unix::fs::lchown(p, Some(NOBODY), None).expect("chown");
    }
    chmod(&evil.join("multiarch"), 0o700);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).expect("no NUL");
    let (a, b) = (c(&mine), c(&evil));
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // SAFETY: two NUL-terminated paths; renameat2 only renames.
                unsafe {
                    libc::renameat2(
                        libc::AT_FDCWD,
                        a.as_ptr(),
                        libc::AT_FDCWD,
                        b.as_ptr(),
                        libc::RENAME_EXCHANGE,
                    )
                };
            }
        });
        /// Stops the swapping thread also when an assertion fails.
        struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let _stop = Stop(&stop);
        for i in 0..300 {
            // In the sandbox: before the fix, /bin/sh could end up reading
            // the payload as the attacker's script and create junk files.
            let mut cmd = report_cmd(&sb, Bundle::Full, &[]);
            let out = run(cmd.env("XDG_CACHE_HOME", &mine).current_dir(&sb.dir));
            assert!(!marker.exists(), "start {i} ran the attacker's file: {}", stderr(&out));
            assert_eq!(Report::parse(&out).level, level.cpu_name(), "start {i}");
        }
    });
}

/// Issue 10, defect 4: SIGTERM during cold starts leaves nothing behind
/// (the build is written into an unnamed O_TMPFILE), and the next cold
/// start removes stale temporary files: old ones of the user, of this and
/// of older launchers, and those in older versions' directories, but not a
/// fresh one (a start still writing) nor another user's. Before the fix
/// killed starts left `.<program>.tmp.<pid>` files for good.
#[test]
fn issue10_killed_cold_starts_leave_no_temporary_files() {
    let sb = Sandbox::new("sigterm");
    let (bundle, level, build) = big_bundle();
    let root = sb.cache_root();
    for i in 0..24u64 {
        let _ = fs::remove_dir_all(&root);
        let mut child = sb
            .command(&bundle)
            .arg("report")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_micros(1500 * i));
        // SAFETY: kill(2) of our own child, not yet waited for.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        child.wait().expect("wait");
        assert_eq!(
            temp_files(&sb.dir),
            Vec::<PathBuf>::new(),
            "after a SIGTERM {}.{} ms in",
            i * 3 / 2,
            i % 2 * 5
        );
    }

    run_ok(sb.command(&bundle).arg("report"));
    let entry = root
        .join(cache_key(&fixtures().file(&format!("big-payload-{}", level.cpu_name()))))
        .join("payload_big");
    let dir = entry.parent().expect("hash dir").to_owned();
    let stale = [dir.join(".payload_big.tmp.4242"), dir.join(".payload_big.0123456789abcdef.tmp")];
    let fresh = dir.join(".payload_big.fedcba9876543210.tmp");
    let old_version = root.join("0123456789abcdef0123456789abcdef");
    for p in stale.iter().chain([&fresh, &old_version.join(".payload_big.tmp.99")]) {
        write_file(p, b"half-written");
    }
    for p in &stale {
        util::age(p, 3600);
    }
    let foreign = dir.join(".payload_big.tmp.77");
    if euid() == 0 {
        write_file(&foreign, b"another user's");
        util::age(&foreign, 3600);
        std::os::unix::fs::lchown(&foreign, Some(NOBODY), None).expect("chown");
    }
    fs::remove_file(&entry).expect("rm entry");
    let out = run(sb.command(&bundle).arg("report").env("MULTIARCH_DEBUG", "log"));
    assert!(log_line(&out).ends_with("via cache, written now)"), "{}", stderr(&out));
    for p in &stale {
        assert!(!p.exists(), "stale {} stayed", p.display());
    }
    assert!(fresh.exists(), "a fresh temporary file (a start still writing) was removed");
    assert!(!old_version.exists(), "an older version's directory stayed");
    assert_eq!(euid() == 0, foreign.exists(), "another user's file was removed");
    assert!(fs::read(&entry).expect("entry") == build);
}

/// Issue 10, defect 4: cold starts in separate PID namespaces (containers
/// sharing a cache) all have PID 1. Before the fix they collided on
/// `.<program>.tmp.1` and fell back or failed.
#[test]
fn issue10_cold_starts_in_separate_pid_namespaces_do_not_collide() {
    if !Command::new("unshare").args(["--pid", "--fork", "true"]).status().is_ok_and(|s| s.success()) {
        eprintln!("SKIP: cannot create a PID namespace (unshare --pid fails)");
        return;
    }
    let sb = Sandbox::new("pidns");
    let (bundle, level, build) = big_bundle();
    for round in 0..3 {
        let _ = fs::remove_dir_all(sb.cache_root());
        let children: Vec<_> = (0..6)
            .map(|_| {
                let mut cmd = sb.command(Path::new("/usr/bin/unshare"));
                cmd.args(["--pid", "--fork"]).arg(&bundle).arg("report").env("MULTIARCH_DEBUG", "log");
                cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn")
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().expect("wait");
            let line = log_line(&out);
            assert!(
                line.ends_with("; via cache)") || line.ends_with("; via cache, written now)"),
                "round {round}: {line}"
            );
            let report = Report::parse(&out);
            assert_eq!((report.pid, report.level.as_str()), (1, level.cpu_name()), "round {round}");
            assert!(report.exe.starts_with(sb.cache_root()), "round {round}: {:?}", report.exe);
        }
        let entries = files_named(&sb.cache_root(), "payload_big");
        assert_eq!(entries.len(), 1, "round {round}: {entries:?}");
        assert!(fs::read(&entries[0]).expect("entry") == build, "round {round}: the entry is not the build");
    }
}

/// Issue 10, defect 5: under `ulimit -f` smaller than the build, a cold
/// start gets EFBIG instead of SIGXFSZ: it falls back as for any write
/// error and fails with the one 126 line when the memfd cannot be written
/// either, leaving nothing in the cache; a warm start writes nothing and
/// works. The program still gets the SIGXFSZ disposition it inherited.
/// Before the fix the launcher died of SIGXFSZ.
#[test]
fn issue10_ulimit_f_makes_a_cold_start_fail_cleanly_not_die() {
    let sb = Sandbox::new("ulimit");
    let level = host_level();
    let limit = 64 << 10;
    assert!(fs::metadata(fixtures().payload(level)).expect("payload").len() > limit);
    for mode in ["auto", "cache", "memfd"] {
        let mut cmd = report_cmd(&sb, Bundle::Full, &[("MULTIARCH_EXEC", mode)]);
        util::file_size_limit_in_child(&mut cmd, limit);
        let out = run(&mut cmd);
        assert_eq!(out.status.code(), Some(126), "{mode}: {}: {}", describe(&out), stderr(&out));
        assert!(out.stdout.is_empty(), "{mode}: the program ran");
        let lines = launcher_lines(&out);
        assert_eq!(lines.len(), 1, "{mode}: {}", stderr(&out));
        assert!(
            lines[0].starts_with("[multiarch] error: ") && lines[0].contains("File too large"),
            "{mode}: {}",
            lines[0]
        );
    }
    assert_eq!(files_named(&sb.dir, "payload_"), Vec::<PathBuf>::new(), "something was left in the cache");
    assert_eq!(temp_files(&sb.dir), Vec::<PathBuf>::new());

    run_ok(&mut report_cmd(&sb, Bundle::Full, &[]));
    let mut cmd = report_cmd(&sb, Bundle::Full, &[]);
    util::file_size_limit_in_child(&mut cmd, limit);
    assert_eq!(log_line(&run_ok(&mut cmd)), log_exact(level, level, Bundle::Full, "via cache"));

    for ignored in [false, true] {
        for mode in ["cold", "memfd"] {
            let _ = fs::remove_dir_all(sb.cache_root());
            let mut cmd = sb.bundle(Bundle::Full);
            cmd.args(["kill", &libc::SIGXFSZ.to_string()])
                .env("MULTIARCH_EXEC", if mode == "cold" { "cache" } else { mode });
            if ignored {
                util::ignore_signal_in_child(&mut cmd, libc::SIGXFSZ);
            }
            let out = run(&mut cmd);
            if ignored {
                // The payload's `kill` mode exits 98 when the signal did not end it.
                assert_eq!(out.status.code(), Some(98), "{mode}, inherited SIG_IGN: {}", describe(&out));
            } else {
                assert_eq!(
                    out.status.signal(),
                    Some(libc::SIGXFSZ),
                    "{mode}, inherited SIG_DFL: {}",
                    describe(&out)
                );
            }
        }
    }
}

/// Issue 10, defect 8: root with another user's HOME (`sudo -E`) must not
/// create `~/.cache` (owned by root) in that user's home, nor use one there:
/// the home is that user's, so root falls back to a memfd. The user
/// themselves still gets a cache. Before the fix root created
/// `~/.cache/multiarch` there.
#[test]
fn issue10_root_with_another_users_home_leaves_it_alone() {
    if euid() != 0 {
        eprintln!("SKIP issue10_root_with_another_users_home_leaves_it_alone: needs root");
        return;
    }
    let level = host_level();
    let sb = Sandbox::new("sudo-e");
    // The user's home lies below the sandbox: let them reach it.
    chmod(&sb.dir, 0o755);
    let name = format!("mat{}", std::process::id());
    let home = sb.dir.join(&name);
    let added =
        Command::new("useradd").args(["-M", "-s", "/usr/sbin/nologin", "-d"]).arg(&home).arg(&name).status();
    assert!(added.is_ok_and(|s| s.success()), "useradd {name} failed");
    /// Removes the user again, however the test ends.
    struct User(String);
    impl Drop for User {
        fn drop(&mut self) {
            let _ = Command::new("userdel").arg(&self.0).status();
        }
    }
    let _user = User(name.clone());
    let id = |flag: &str| -> u32 {
        let out = run_ok(Command::new("id").arg(flag).arg(&name));
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("numeric id")
    };
    let (uid, gid) = (id("-u"), id("-g"));
    fs::create_dir(&home).expect("mkdir home");
    std::os::unix::fs::chown(&home, Some(uid), Some(gid)).expect("chown home");

    let as_root = || {
        let mut cmd = report_cmd(&sb, Bundle::Full, &[]);
        cmd.env("HOME", &home).env_remove("XDG_CACHE_HOME");
        run(&mut cmd)
    };
    let why = format!("{} is owned by uid {uid}, not by root or uid 0: not trusted", home.display());
    assert_cache_fallback(&as_root(), level, level, Bundle::Full, &[&why]);
    assert!(!home.join(".cache").exists(), "root created ~/.cache in another user's home");
    // The user's own ~/.cache is not used by root either.
    let cache = home.join(".cache");
    fs::create_dir(&cache).expect("mkdir");
    std::os::unix::fs::chown(&cache, Some(uid), Some(gid)).expect("chown");
    assert_cache_fallback(&as_root(), level, level, Bundle::Full, &[&why]);
    assert!(!cache.join("multiarch").exists(), "root wrote into another user's ~/.cache");

    // The user gets a cache of their own, if they can reach the bundle.
    let mut cmd = report_cmd(&sb, Bundle::Full, &[]);
    cmd.env("HOME", &home).env_remove("XDG_CACHE_HOME").uid(uid).gid(gid);
    let out = run(&mut cmd);
    if out.status.code() == Some(126) && launcher_lines(&out).is_empty() {
        eprintln!("SKIP the user's own start: {} cannot run the fixtures: {}", name, stderr(&out));
        return;
    }
    assert_eq!(
        log_line(&out),
        log_exact(level, level, Bundle::Full, "via cache, written now"),
        "{}",
        stderr(&out)
    );
    let meta = fs::metadata(cache.join("multiarch")).expect("the user's cache root");
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (uid, 0o700));
}

/// Issue 10, defect 9: a newline in a path cannot forge a line; a value of
/// 3,000 bytes is cut in the message but the hint is whole; a start that
/// fails before its exec (here a seccomp filter denies memfd_create) prints
/// its error line only, not a "starting ..." line first.
#[test]
fn issue10_messages_escape_paths_keep_hints_and_log_only_real_starts() {
    let sb = Sandbox::new("messages");
    let level = host_level();
    let odd = sb.dir.join("x\n[multiarch] error: forged");
    fs::create_dir(&odd).expect("mkdir");
    chmod(&odd, 0o777);
    let out = run(report_cmd(&sb, Bundle::Full, &[]).env("XDG_CACHE_HOME", &odd));
    assert_eq!(stderr(&out).lines().count(), 1, "a path forged a line:\n{}", stderr(&out));
    assert_cache_fallback(&out, level, level, Bundle::Full, &["x\\n[multiarch] error: forged has mode 777"]);

    let long = "v".repeat(3000);
    let out = run(sb.bundle(Bundle::Full).arg("report").env("MULTIARCH_LEVEL", &long));
    assert_eq!(out.status.code(), Some(126), "{}", describe(&out));
    let want = format!(
        "[multiarch] error: MULTIARCH_LEVEL=\"{}\" (cut; 3000 bytes) is not valid (accepted: {})\n",
        "v".repeat(100),
        multiarch_launcher::env::LEVEL_ACCEPTED
    );
    assert_eq!(stderr(&out), want);

    let mut cmd = report_cmd(&sb, Bundle::Full, &[("MULTIARCH_EXEC", "memfd")]);
    util::deny_syscall_in_child(&mut cmd, libc::SYS_memfd_create);
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(126), "{}", describe(&out));
    let lines = launcher_lines(&out);
    assert_eq!(lines.len(), 1, "want only the error line:\n{}", stderr(&out));
    assert!(lines[0].starts_with("[multiarch] error: ") && lines[0].contains("memfd_create"), "{}", lines[0]);
}

/// Issue 10, defect 9: the kernel counts the executed file's name against
/// ARG_MAX. A command line that just fits for the bundle's own path must
/// still start from the cache, whose path is much longer: the entry is run
/// by descriptor, as `/dev/fd/N`. Before the fix the execve of the cache
/// path failed with E2BIG and the launcher fell back to a memfd.
#[test]
fn issue10_command_line_near_arg_max_starts_from_the_cache() {
    let sb = Sandbox::new("argmax");
    let level = host_level();
    let deep = sb.xdg.join("d".repeat(250)).join("e".repeat(250));
    fs::create_dir_all(&deep).expect("mkdir");
    run_ok(report_cmd(&sb, Bundle::Full, &[]).env("XDG_CACHE_HOME", &deep));
    let bundle = fixtures().bundle(Bundle::Full);
    let entry =
        deep.join("multiarch").join(cache_key(&fixtures().payload(level))).join(Bundle::Full.program());
    assert!(entry.exists(), "no cache entry at {}", entry.display());
    let entry_len = entry.as_os_str().len();
    assert!(entry_len > bundle.as_os_str().len() + 400, "the cache path is not longer");
    // `exit 0` plus `n` bytes of arguments, in pieces under MAX_ARG_STRLEN.
    let command = |n: usize| {
        let mut cmd = sb.bundle(Bundle::Full);
        cmd.env("XDG_CACHE_HOME", &deep).env("MULTIARCH_DEBUG", "log").args(["exit", "0"]);
        let piece = "a".repeat(100_000);
        let mut left = n;
        while left > 0 {
            let k = left.min(piece.len() + 1);
            cmd.arg(&piece[..k - 1]);
            left -= k;
        }
        cmd
    };
    // The largest command line the kernel takes for the bundle itself.
    let (mut fits, mut too_big) = (0, 8 << 20);
    while too_big - fits > 1 {
        let n = (fits + too_big) / 2;
        match command(n).output() {
            Ok(_) => fits = n,
            Err(e) if e.raw_os_error() == Some(libc::E2BIG) => too_big = n,
            Err(e) => panic!("spawn: {e}"),
        }
    }
    let out = run(&mut command(fits));
    assert!(out.status.success(), "{}: {}", describe(&out), stderr(&out));
    assert_eq!(launcher_lines(&out), [log_exact(level, level, Bundle::Full, "via cache")]);
}

/// What held before issue 10 must keep holding now that the entry is run by
/// descriptor: where a seccomp filter denies execveat (or the kernel lacks
/// it), the checked entry still starts from the cache, through
/// /proc/self/fd/N, and the program still sees the cache path. Both starts
/// run under strace, which shows that the filter took effect (execveat
/// failed with EPERM) and that the fallback ran (execve of /proc/self/fd/N
/// succeeded): the log line and the report alone read the same either way.
#[test]
fn cache_entry_starts_where_execveat_is_denied() {
    let Some(strace) = util::strace() else { return };
    let sb = Sandbox::new("no-execveat");
    let level = host_level();
    let trace = sb.dir.join("trace");
    for via in ["via cache, written now", "via cache"] {
        let mut cmd = sb.command(strace);
        cmd.args(["-f", "-qq", "-e", "trace=execve,execveat", "-o"])
            .arg(&trace)
            .arg(fixtures().bundle(Bundle::Full))
            .arg("report")
            .env("MULTIARCH_DEBUG", "log");
        util::deny_syscall_in_child(&mut cmd, libc::SYS_execveat);
        let out = run(&mut cmd);
        assert_eq!(log_line(&out), log_exact(level, level, Bundle::Full, via));
        assert_eq!(Report::parse(&out).exe, sb.entry(Bundle::Full, level));
        let text = fs::read_to_string(&trace).expect("read the strace output");
        let calls: Vec<&str> = text.lines().filter(|l| l.contains("execve")).collect();
        let denied = calls.iter().position(|l| {
            l.contains("execveat(")
                && l.contains("AT_EMPTY_PATH")
                && l.ends_with("= -1 EPERM (Operation not permitted)")
        });
        let Some(denied) = denied else {
            panic!("{via}: no execveat(fd, \"\", ..., AT_EMPTY_PATH) that failed with EPERM:\n{text}")
        };
        let fallback = &calls[denied + 1..];
        assert!(
            fallback.first().is_some_and(|l| l.contains("execve(\"/proc/self/fd/") && l.ends_with(" = 0")),
            "{via}: after the denied execveat, no execve of /proc/self/fd/N that succeeded:\n{text}"
        );
        assert!(!calls.iter().any(|l| l.contains("execveat(") && l.ends_with(" = 0")), "{text}");
    }
}

/// Issue 10: a build that fails to decode during a cold start (here the
/// decoder's memory, under `ulimit -v`) leaves nothing in the cache: the
/// unnamed file it was written to vanishes with its descriptor. The same
/// holds for any decode error, e.g. a failed checksum of a damaged bundle.
#[test]
fn failed_decode_on_a_cold_start_leaves_nothing_in_the_cache() {
    let sb = Sandbox::new("decode-fails");
    let (bundle, _, _) = big_bundle();
    let mut cmd = sb.command(&bundle);
    cmd.arg("report").env("MULTIARCH_DEBUG", "log");
    util::address_space_limit_in_child(&mut cmd, 8 << 20);
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(126), "{}: {}", describe(&out), stderr(&out));
    let lines = launcher_lines(&out);
    assert_eq!(lines.len(), 1, "{}", stderr(&out));
    assert!(lines[0].contains("cannot map memory to decode the build"), "{}", lines[0]);
    let mut files = Vec::new();
    let mut dirs = vec![sb.cache_root()];
    while let Some(dir) = dirs.pop() {
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.file_type().expect("type").is_dir() {
                dirs.push(e.path());
            } else {
                files.push(e.path());
            }
        }
    }
    assert_eq!(files, Vec::<PathBuf>::new(), "a failed decode left files in the cache");
}

/// Issue 10, defect 4, where the file system has no O_TMPFILE (simulated by
/// a seccomp filter that fails it with EOPNOTSUPP): the build goes to a
/// file with a random name (never the PID), renamed into place; starts
/// killed meanwhile leave such files, and a later cold start removes them
/// once they are stale, and not before. Before the fix the names were
/// `.<program>.tmp.<pid>` and nothing removed them. The killed starts are
/// stopped by the filter at their first write into a file: into a named
/// temporary file only if O_TMPFILE was denied (an unnamed one vanishes with
/// the process), so the files they leave show that the denial took effect.
#[test]
fn issue10_without_o_tmpfile_random_names_are_used_and_cleaned() {
    let sb = Sandbox::new("no-tmpfile");
    let (bundle, _, build) = big_bundle();
    let command = || {
        let mut cmd = sb.command(&bundle);
        cmd.arg("report").env("MULTIARCH_DEBUG", "log");
        util::deny_o_tmpfile_in_child(&mut cmd);
        cmd
    };
    let out = run(&mut command());
    assert!(log_line(&out).ends_with("; via cache, written now)"), "{}", stderr(&out));
    let entry = Report::parse(&out).exe;
    assert!(fs::read(&entry).expect("entry") == build);
    assert_eq!(temp_files(&sb.dir), Vec::<PathBuf>::new());

    const KILLED: usize = 3;
    // Cold starts all: a killed start never names its file.
    fs::remove_file(&entry).expect("remove the entry");
    for _ in 0..KILLED {
        let mut cmd = sb.command(&bundle);
        cmd.arg("report").current_dir(&sb.dir);
        util::deny_o_tmpfile_and_kill_at_file_write_in_child(&mut cmd);
        let out = run(&mut cmd);
        assert_eq!(out.status.signal(), Some(libc::SIGSYS), "{}: {}", describe(&out), stderr(&out));
    }
    let mut left = temp_files(&sb.dir);
    left.sort();
    assert_eq!(left.len(), KILLED, "each killed start must leave its temporary file: {left:?}");
    for p in &left {
        assert_eq!(p.parent(), entry.parent(), "a temporary file outside the entry's directory");
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        let digits = name.strip_prefix(".payload_big.").and_then(|n| n.strip_suffix(".tmp")).unwrap_or("");
        assert!(
            digits.len() == 16 && digits.bytes().all(|b| b.is_ascii_hexdigit()),
            "temporary name {name:?}"
        );
    }
    // A cold start leaves files that are not stale yet: their starts may be running.
    let out = run(&mut command());
    assert!(log_line(&out).ends_with("; via cache, written now)"), "{}", stderr(&out));
    let mut kept = temp_files(&sb.dir);
    kept.sort();
    assert_eq!(kept, left, "temporary files removed before they were stale");
    for p in &left {
        util::age(p, 3600);
    }
    fs::remove_file(&entry).expect("remove the entry");
    let out = run(&mut command());
    assert!(log_line(&out).ends_with("; via cache, written now)"), "{}", stderr(&out));
    assert_eq!(temp_files(&sb.dir), Vec::<PathBuf>::new(), "stale temporary files stayed");
    assert!(fs::read(&entry).expect("entry") == build);
}
