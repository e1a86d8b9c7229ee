//! Which embedded build to start: a pure function of the CPU's level, the
//! user's request and the embedded levels.

use crate::level::Level;
use core::fmt;

/// The outcome of [`select`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice {
    /// The level to start.
    pub level: Level,
    /// The level asked for with `MULTIARCH_LEVEL`, when it is not embedded and
    /// `level` stands in for it.
    pub fell_back_from: Option<Level>,
    /// A level above the CPU's was forced with `MULTIARCH_FORCE=1`.
    pub above_cpu: bool,
}

/// Why nothing can be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectError {
    /// `MULTIARCH_LEVEL` asks for more than the CPU has, without `MULTIARCH_FORCE=1`.
    AboveCpu { requested: Level, cpu: Level },
    /// No embedded level is at or below the target (the bundle lacks `x86-64`).
    NothingRuns { target: Level },
}

impl fmt::Display for SelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectError::AboveCpu { requested, cpu } => write!(
                f,
                "MULTIARCH_LEVEL={} is above what this CPU supports ({cpu}): that build would die \
                 with SIGILL; set MULTIARCH_FORCE=1 to start it anyway",
                requested.short_name()
            ),
            SelectError::NothingRuns { target } => write!(
                f,
                "the bundle embeds no build at or below {target}; rebuild it with the x86-64 \
                 (v1) level included"
            ),
        }
    }
}

/// The request, from the environment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// `MULTIARCH_LEVEL`.
    pub level: Option<Level>,
    /// `MULTIARCH_FORCE=1`: allow a level above the CPU's.
    pub force: bool,
}

/// Picks the highest embedded level that is not above the target, where the
/// target is the requested level or else the CPU's.
pub fn select(
    cpu: Level,
    request: Request,
    embedded: impl IntoIterator<Item = Level>,
) -> Result<Choice, SelectError> {
    let target = request.level.unwrap_or(cpu);
    let above_cpu = target > cpu;
    if above_cpu && !request.force {
        return Err(SelectError::AboveCpu { requested: target, cpu });
    }
    let level =
        embedded.into_iter().filter(|&l| l <= target).max().ok_or(SelectError::NothingRuns { target })?;
    let fell_back_from = request.level.filter(|&r| r != level);
    Ok(Choice { level, fell_back_from, above_cpu: level > cpu })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Level::*;

    fn pick(cpu: Level, embedded: &[Level]) -> Level {
        select(cpu, Request::default(), embedded.iter().copied()).unwrap().level
    }

    #[test]
    fn highest_not_above_cpu() {
        let all = [V4, V3, V2, V1];
        assert_eq!(pick(V4, &all), V4);
        assert_eq!(pick(V3, &all), V3);
        assert_eq!(pick(V2, &all), V2);
        assert_eq!(pick(V1, &all), V1);
        // Any subset with v1, in any order.
        assert_eq!(pick(V4, &[V1, V3]), V3);
        assert_eq!(pick(V2, &[V3, V1]), V1);
        assert_eq!(pick(V3, &[V1]), V1);
        assert_eq!(pick(V4, &[V2, V1, V4]), V4);
    }

    #[test]
    fn requested_level() {
        let req = |level| Request { level: Some(level), force: false };
        let c = select(V4, req(V2), [V4, V3, V2, V1]).unwrap();
        assert_eq!(c, Choice { level: V2, fell_back_from: None, above_cpu: false });
        // Not embedded: the highest embedded level below it.
        let c = select(V4, req(V2), [V3, V1]).unwrap();
        assert_eq!(c, Choice { level: V1, fell_back_from: Some(V2), above_cpu: false });
    }

    #[test]
    fn above_cpu_needs_force() {
        let err = select(V2, Request { level: Some(V4), force: false }, [V4, V1]).unwrap_err();
        assert_eq!(err, SelectError::AboveCpu { requested: V4, cpu: V2 });
        let msg = err.to_string();
        assert!(msg.contains("MULTIARCH_LEVEL=v4") && msg.contains("MULTIARCH_FORCE=1"), "{msg}");
        let c = select(V2, Request { level: Some(V4), force: true }, [V4, V1]).unwrap();
        assert_eq!(c, Choice { level: V4, fell_back_from: None, above_cpu: true });
        // Forced above the CPU, but only lower builds exist: not above after all.
        let c = select(V2, Request { level: Some(V4), force: true }, [V1]).unwrap();
        assert_eq!(c, Choice { level: V1, fell_back_from: Some(V4), above_cpu: false });
    }

    #[test]
    fn no_baseline() {
        let err = select(V2, Request::default(), [V3]).unwrap_err();
        assert_eq!(err, SelectError::NothingRuns { target: V2 });
        assert!(select(V2, Request::default(), []).is_err());
    }
}
