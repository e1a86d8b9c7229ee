//! The `MULTIARCH_*` environment variables, parsed from raw `KEY=VALUE`
//! entries so that tests need no process environment.

use crate::select::{Name, Request};
use crate::text::Quoted;
use core::fmt;

/// How the chosen build is started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExecMode {
    /// The cache when usable, else a memfd.
    #[default]
    Auto,
    /// Only the per-user cache.
    Cache,
    /// Only a sealed memfd.
    Memfd,
}

/// What the environment asks of the launcher.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// `MULTIARCH_LEVEL` and `MULTIARCH_FORCE`.
    pub request: Request,
    /// `MULTIARCH_DEBUG=log`: print one line to stderr before starting.
    pub log: bool,
    /// `MULTIARCH_DEBUG=extract`: write the chosen build to stdout instead.
    pub extract: bool,
    /// `MULTIARCH_EXEC`.
    pub exec: ExecMode,
}

/// A variable with a value it does not accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadValue<'a> {
    /// The variable's name.
    pub var: &'static str,
    /// Its value.
    pub value: &'a [u8],
    /// The accepted values.
    pub accepted: &'static str,
}

impl fmt::Display for BadValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={} is not valid (accepted: {})", self.var, Quoted(self.value), self.accepted)
    }
}

impl<'a> BadValue<'a> {
    fn new(var: &'static str, value: &'a [u8], accepted: &'static str) -> BadValue<'a> {
        BadValue { var, value, accepted }
    }
}

/// What `MULTIARCH_LEVEL` accepts.
pub const LEVEL_ACCEPTED: &str =
    "a variant name ([a-z0-9][a-z0-9._-]{0,31}) or a level: v1, v2, v3, v4, x86-64, x86-64-v2, x86-64-v3, x86-64-v4";
const DEBUG_ACCEPTED: &str = "log, extract, log,extract";
const EXEC_ACCEPTED: &str = "auto, cache, memfd";
const FORCE_ACCEPTED: &str = "0, 1";

impl Config {
    /// Parses the `MULTIARCH_*` entries of an environment block. An unset or
    /// empty variable takes its default; of repeated entries the first wins,
    /// as with glibc's `getenv` (and so with the program's own view). Other
    /// entries are ignored.
    pub fn from_env<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Result<Config, BadValue<'a>> {
        let (mut level, mut debug, mut exec, mut force) = (None, None, None, None);
        for entry in entries {
            let Some(rest) = entry.strip_prefix(b"MULTIARCH_") else { continue };
            let Some(eq) = rest.iter().position(|&b| b == b'=') else { continue };
            let (key, value) = (&rest[..eq], &rest[eq + 1..]);
            let slot = match key {
                b"LEVEL" => &mut level,
                b"DEBUG" => &mut debug,
                b"EXEC" => &mut exec,
                b"FORCE" => &mut force,
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        let mut config = Config::default();
        if let Some(v) = level.filter(|v| !v.is_empty()) {
            config.request.name =
                Some(Name::new(v).ok_or_else(|| BadValue::new("MULTIARCH_LEVEL", v, LEVEL_ACCEPTED))?);
        }
        if let Some(v) = force.filter(|v| !v.is_empty()) {
            config.request.force = match v {
                b"0" => false,
                b"1" => true,
                _ => return Err(BadValue::new("MULTIARCH_FORCE", v, FORCE_ACCEPTED)),
            };
        }
        if let Some(v) = debug.filter(|v| !v.is_empty()) {
            for word in v.split(|&b| b == b',') {
                match word {
                    b"log" => config.log = true,
                    b"extract" => config.extract = true,
                    _ => return Err(BadValue::new("MULTIARCH_DEBUG", v, DEBUG_ACCEPTED)),
                }
            }
        }
        if let Some(v) = exec.filter(|v| !v.is_empty()) {
            config.exec = match v {
                b"auto" => ExecMode::Auto,
                b"cache" => ExecMode::Cache,
                b"memfd" => ExecMode::Memfd,
                _ => return Err(BadValue::new("MULTIARCH_EXEC", v, EXEC_ACCEPTED)),
            };
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<'a>(entries: &[&'a str]) -> Result<Config, BadValue<'a>> {
        Config::from_env(entries.iter().map(|e| e.as_bytes()))
    }

    #[test]
    fn defaults_when_unset_or_empty() {
        assert_eq!(parse(&[]).unwrap(), Config::default());
        assert_eq!(parse(&["MULTIARCH_LEVEL=", "MULTIARCH_DEBUG=", "PATH=/bin"]).unwrap(), Config::default());
    }

    #[test]
    fn all_variables() {
        let c = parse(&[
            "MULTIARCH_LEVEL=x86-64-v3",
            "MULTIARCH_FORCE=1",
            "MULTIARCH_DEBUG=log,extract",
            "MULTIARCH_EXEC=memfd",
        ])
        .unwrap();
        assert_eq!(c.request, Request { name: Name::new(b"x86-64-v3"), force: true });
        assert!(c.log && c.extract);
        assert_eq!(c.exec, ExecMode::Memfd);
        assert_eq!(parse(&["MULTIARCH_EXEC=cache"]).unwrap().exec, ExecMode::Cache);
        assert_eq!(parse(&["MULTIARCH_LEVEL=v1"]).unwrap().request.name, Name::new(b"v1"));
        assert_eq!(parse(&["MULTIARCH_LEVEL=znver4"]).unwrap().request.name, Name::new(b"znver4"));
    }

    #[test]
    fn first_entry_wins_as_with_getenv() {
        let c = parse(&["MULTIARCH_LEVEL=v4", "MULTIARCH_LEVEL=v2"]).unwrap();
        assert_eq!(c.request.name, Name::new(b"v4"));
    }

    #[test]
    fn bad_values_name_variable_value_and_choices() {
        for (entry, var, accepted) in [
            ("MULTIARCH_LEVEL=V3", "MULTIARCH_LEVEL", "v1, v2"),
            ("MULTIARCH_LEVEL=v3 ", "MULTIARCH_LEVEL", "a variant name"),
            ("MULTIARCH_LEVEL=-v3", "MULTIARCH_LEVEL", "x86-64-v4"),
            ("MULTIARCH_DEBUG=verbose", "MULTIARCH_DEBUG", "log, extract"),
            ("MULTIARCH_DEBUG=log,", "MULTIARCH_DEBUG", "log, extract"),
            ("MULTIARCH_EXEC=disk", "MULTIARCH_EXEC", "auto, cache, memfd"),
            ("MULTIARCH_FORCE=yes", "MULTIARCH_FORCE", "0, 1"),
        ] {
            let err = parse(&[entry]).unwrap_err();
            assert_eq!(err.var, var);
            let msg = err.to_string();
            let value = entry.split_once('=').unwrap().1;
            assert!(msg.contains(&format!("{var}={value:?}")), "{msg}");
            assert!(msg.contains(accepted), "{msg}");
            assert!(!msg.contains('\n'));
        }
    }

    #[test]
    fn non_utf8_value_is_reported_not_panicked() {
        let err = Config::from_env([&b"MULTIARCH_LEVEL=\xff"[..]]).unwrap_err();
        assert_eq!(err.var, "MULTIARCH_LEVEL");
    }

    #[test]
    fn other_variables_ignored() {
        let c =
            parse(&["MULTIARCH_LEVELX=v9", "XMULTIARCH_LEVEL=v9", "MULTIARCH_OTHER=1", "MULTIARCH_LEVEL"])
                .unwrap();
        assert_eq!(c, Config::default());
    }
}
