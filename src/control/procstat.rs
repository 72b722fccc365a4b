//! CPU time and resident memory of a process, from /proc/<pid>/stat, and CPU % between two
//! readings of the same pid.
use std::collections::HashMap;
use std::time::Instant;

use nix::unistd::{sysconf, SysconfVar};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    /// Resident set, in pages.
    pub rss_pages: u64,
}

/// Parses the text of /proc/<pid>/stat. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from the last ')'.
pub fn parse_stat(text: &str) -> Option<Reading> {
    let rest = &text[text.rfind(')')? + 1..];
    // After the name: state is field 3; utime 14, stime 15, rss 24 (man 5 proc).
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Reading { cpu_ticks: field(14)? + field(15)?, rss_pages: field(24)? })
}

pub fn read(pid: i32) -> Option<Reading> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Remembers the last reading of each pid, so each call gives CPU % since the previous one.
#[derive(Default)]
pub struct CpuMeter {
    last: HashMap<i32, (Instant, u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    pub cpu_percent: f64,
    pub rss_bytes: f64,
}

impl CpuMeter {
    /// Usage of each pid (None for one that is gone); forgets pids not asked for.
    pub fn sample(&mut self, pids: &[i32]) -> Vec<Option<Usage>> {
        let now = Instant::now();
        let (ticks_per_s, page) = (clock_ticks_per_second(), page_size());
        let mut next = HashMap::new();
        let out = pids
            .iter()
            .map(|&pid| {
                let r = read(pid)?;
                let cpu_percent = match self.last.get(&pid) {
                    Some(&(at, ticks)) => percent(ticks, r.cpu_ticks, now.duration_since(at).as_secs_f64(), ticks_per_s),
                    None => 0.0,
                };
                next.insert(pid, (now, r.cpu_ticks));
                Some(Usage { cpu_percent, rss_bytes: (r.rss_pages * page) as f64 })
            })
            .collect();
        self.last = next;
        out
    }
}

pub fn percent(before: u64, after: u64, seconds: f64, ticks_per_s: f64) -> f64 {
    if seconds <= 0.0 || after < before {
        return 0.0;
    }
    (after - before) as f64 / ticks_per_s / seconds * 100.0
}

fn clock_ticks_per_second() -> f64 {
    match sysconf(SysconfVar::CLK_TCK) {
        Ok(Some(n)) if n > 0 => n as f64,
        _ => 100.0,
    }
}

fn page_size() -> u64 {
    match sysconf(SysconfVar::PAGE_SIZE) {
        Ok(Some(n)) if n > 0 => n as u64,
        _ => 4096,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_name_with_spaces_and_parentheses() {
        let line = "4242 (my (odd) app) S 1 4242 4242 0 -1 4194560 1 0 0 0 30 12 0 0 20 0 1 0 100 1000 250 18446744073709551615";
        assert_eq!(parse_stat(line), Some(Reading { cpu_ticks: 42, rss_pages: 250 }));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn reads_this_process() {
        let r = read(std::process::id() as i32).expect("own stat");
        assert!(r.rss_pages > 0);
        let mut meter = CpuMeter::default();
        let first = meter.sample(&[std::process::id() as i32, -5]);
        assert!(first[0].is_some() && first[1].is_none());
    }

    #[test]
    fn percent_of_one_core() {
        assert_eq!(percent(100, 150, 1.0, 100.0), 50.0);
        assert_eq!(percent(150, 100, 1.0, 100.0), 0.0);
        assert_eq!(percent(0, 10, 0.0, 100.0), 0.0);
    }
}
