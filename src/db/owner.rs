//! Which grader run owns a role or a database on a shared server: a mark written as the
//! object's comment (host, pid namespace, pid and the process's start time), and the
//! verdict a later run reaches about it. A grader killed with SIGKILL cannot drop what it
//! made; the next run, or `sqlgrade clean`, removes what belongs to a run that is gone.

const PREFIX: &str = "sqlgrade run:";

/// This process as an owner.
pub fn mark() -> String {
    let pid = std::process::id();
    format!(
        "{PREFIX} host={} pidns={} pid={pid} start={}",
        hostname(),
        pid_namespace(),
        start_time(pid).unwrap_or_default()
    )
}

/// What a later run concludes about a marked object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Its grader no longer runs: it may be removed.
    Gone,
    /// Its grader still runs.
    Running,
    /// It belongs to a grader on another machine or in another pid namespace, which this
    /// run cannot see.
    Elsewhere(String),
}

impl Verdict {
    pub fn describe(&self) -> String {
        match self {
            Verdict::Gone => "its grader is gone".into(),
            Verdict::Running => "its grader is still running".into(),
            Verdict::Elsewhere(host) => format!("made by a grader on `{host}`"),
        }
    }
}

/// Judges a comment; `None` when it is not a grader's mark.
pub fn judge(comment: &str) -> Option<Verdict> {
    let rest = comment.strip_prefix(PREFIX)?;
    let field = |name: &str| {
        rest.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_string)
    };
    let host = field("host")?;
    let pid: u32 = field("pid")?.parse().ok()?;
    let start = field("start").unwrap_or_default();
    if host != hostname() || field("pidns").unwrap_or_default() != pid_namespace() {
        return Some(Verdict::Elsewhere(host));
    }
    // A pid the system gave to another process since is not the grader's.
    Some(match start_time(pid) {
        Some(now) if now == start => Verdict::Running,
        _ => Verdict::Gone,
    })
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into())
        .replace(char::is_whitespace, "_")
}

fn pid_namespace() -> String {
    std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.to_string_lossy().replace(char::is_whitespace, "_"))
        .unwrap_or_else(|_| "unknown".into())
}

/// The start time of process `pid` in clock ticks since boot (field 22 of its stat).
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(19).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_run_is_running_and_a_dead_pid_is_gone() {
        let mine = mark();
        assert_eq!(judge(&mine), Some(Verdict::Running));
        let start = start_time(std::process::id()).expect("start time");
        let dead = mine.replace(&format!("start={start}"), "start=1");
        assert_eq!(judge(&dead), Some(Verdict::Gone));
        let other = mine.replace(&format!("host={}", hostname()), "host=elsewhere");
        assert_eq!(judge(&other), Some(Verdict::Elsewhere("elsewhere".into())));
        assert_eq!(judge("a comment of the instructor's"), None);
    }
}
