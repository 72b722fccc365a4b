//! Starting a child process: std's Command plus the fixes a Node parent needs (see
//! ARCHITECTURE.md §2): Node marks fds 0-2 close-on-exec, so they are cleared in the child;
//! the IPC socket is moved to its slot with dup2 (which clears close-on-exec, unless source
//! and target are the same fd); signal dispositions are reset as libuv does.
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use nix::errno::Errno;
use nix::sys::signal::{signal, SigHandler, Signal};
use nix::unistd::{getpid, getppid, setsid};

use crate::ipc::scm;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StdioSpec {
    Inherit,
    Ignore,
    Pipe,
    Fd(RawFd),
}

pub struct SpawnSpec {
    pub file: OsString,
    /// argv[0], when not `file` (Node's `argv0` option).
    pub argv0: Option<OsString>,
    /// argv[1..]
    pub args: Vec<OsString>,
    /// KEY=VALUE pairs: the whole environment.
    pub env: Vec<OsString>,
    pub cwd: Option<OsString>,
    pub stdio: [StdioSpec; 3],
    /// fds 3 and up, by index (the IPC slot, if any, is `Ignore` here).
    pub extra: Vec<StdioSpec>,
    /// The child's fd number for the IPC socket, if any (>= 3).
    pub ipc_fd: Option<RawFd>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub detached: bool,
    /// Signal the child gets when this thread ends (cluster workers), 0 for none.
    pub death_signal: i32,
}

pub struct Spawned {
    pub pid: i32,
    /// Parent ends of piped stdio.
    pub stdio: [Option<OwnedFd>; 3],
    /// Parent ends of pipes at fds 3 and up, by index.
    pub extra: Vec<Option<OwnedFd>>,
    /// Parent end of the IPC socket.
    pub channel: Option<OwnedFd>,
}

fn stdio_for(spec: StdioSpec, parent_end: &mut Option<OwnedFd>) -> io::Result<Stdio> {
    Ok(match spec {
        StdioSpec::Inherit => Stdio::inherit(),
        StdioSpec::Ignore => Stdio::null(),
        StdioSpec::Fd(fd) => Stdio::from(scm::dup_raw(fd)?),
        StdioSpec::Pipe => {
            // libuv makes 'pipe' stdio from socketpairs too.
            let (ours, theirs) = scm::socketpair()?;
            *parent_end = Some(ours);
            Stdio::from(theirs)
        }
    })
}

pub fn spawn(spec: SpawnSpec) -> io::Result<Spawned> {
    let mut cmd = Command::new(&spec.file);
    if let Some(argv0) = &spec.argv0 {
        cmd.arg0(argv0);
    }
    cmd.args(&spec.args);
    cmd.env_clear();
    for pair in &spec.env {
        let bytes = pair.clone().into_vec();
        if let Some(eq) = bytes.iter().skip(1).position(|&b| b == b'=') {
            let (k, v) = bytes.split_at(eq + 1);
            cmd.env(OsString::from_vec(k.to_vec()), OsString::from_vec(v[1..].to_vec()));
        }
    }
    if let Some(cwd) = &spec.cwd {
        cmd.current_dir(cwd);
    }
    if let Some(uid) = spec.uid {
        cmd.uid(uid);
    }
    if let Some(gid) = spec.gid {
        cmd.gid(gid);
    }
    let mut parent_ends: [Option<OwnedFd>; 3] = [None, None, None];
    cmd.stdin(stdio_for(spec.stdio[0], &mut parent_ends[0])?);
    cmd.stdout(stdio_for(spec.stdio[1], &mut parent_ends[1])?);
    cmd.stderr(stdio_for(spec.stdio[2], &mut parent_ends[2])?);

    // fds 3 and up: (target fd, source fd in this process); sources of pipes are kept open
    // until the child has them.
    let mut extra_parent: Vec<Option<OwnedFd>> = Vec::new();
    let mut extra_child: Vec<OwnedFd> = Vec::new();
    let mut moves: Vec<(RawFd, RawFd)> = Vec::new();
    for (i, extra) in spec.extra.iter().enumerate() {
        let target = 3 + i as RawFd;
        let mut parent_end = None;
        match *extra {
            StdioSpec::Ignore => {}
            StdioSpec::Inherit => moves.push((target, target)),
            StdioSpec::Fd(fd) => moves.push((target, fd)),
            StdioSpec::Pipe => {
                let (ours, theirs) = scm::socketpair()?;
                moves.push((target, theirs.as_raw_fd()));
                extra_child.push(theirs);
                parent_end = Some(ours);
            }
        }
        extra_parent.push(parent_end);
    }

    let mut channel = None;
    let mut child_channel: Option<OwnedFd> = None;
    if spec.ipc_fd.is_some() {
        let (ours, theirs) = scm::socketpair()?;
        channel = Some(ours);
        child_channel = Some(theirs);
    }
    if let (Some(theirs), Some(slot)) = (child_channel.as_ref(), spec.ipc_fd) {
        moves.push((slot, theirs.as_raw_fd()));
    }
    let detached = spec.detached;
    let death_signal = spec.death_signal;
    let parent_pid = getpid();

    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe calls
    // (nix's getppid/setsid/signal are the bare calls and do not allocate). fcntl and dup2
    // stay raw: they act on fd numbers (0-2, dup2 targets) that are no Rust values here;
    // prctl and _exit have no nix wrapper for this use.
    unsafe {
        cmd.pre_exec(move || {
            for fd in 0..3 {
                let fl = libc::fcntl(fd, libc::F_GETFD);
                if fl >= 0 {
                    libc::fcntl(fd, libc::F_SETFD, fl & !libc::FD_CLOEXEC);
                }
            }
            // fds 3 and up (the IPC socket among them): every source first moved above all
            // targets (a source may be another entry's target), then put in place; dup2 clears
            // close-on-exec.
            let floor = moves.iter().map(|&(target, _)| target).max().unwrap_or(2) + 1;
            for (_, src) in moves.iter_mut() {
                let high = libc::fcntl(*src, libc::F_DUPFD_CLOEXEC, floor);
                if high < 0 {
                    return Err(io::Error::last_os_error());
                }
                *src = high;
            }
            for &(target, src) in moves.iter() {
                if libc::dup2(src, target) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            // Signals 1-31; SIGKILL and SIGSTOP cannot be changed.
            for sig in Signal::iterator().filter(|s| *s != Signal::SIGKILL && *s != Signal::SIGSTOP) {
                let _ = signal(sig, SigHandler::SigDfl);
            }
            if detached {
                let _ = setsid();
            }
            if death_signal > 0 {
                libc::prctl(libc::PR_SET_PDEATHSIG, death_signal as libc::c_ulong, 0, 0, 0);
                // The parent may already be gone (then we were reparented).
                if getppid() != parent_pid {
                    libc::_exit(128 + death_signal);
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    drop(child_channel);
    drop(extra_child);
    let pid = child.id() as i32;
    // Dropping std's Child neither waits nor kills; the pidfd watcher reaps it.
    drop(child);
    Ok(Spawned { pid, stdio: parent_ends, extra: extra_parent, channel })
}

/// Opens a pidfd for `pid`: readable once the process has exited.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open(2) (no nix wrapper) reads no memory of ours; it returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: just created; pidfds are close-on-exec.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// How a process ended.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

/// Reaps `pid` if it has exited.
///
/// Raw waitpid, not nix's: nix decodes the status into its `Signal` enum, which has no
/// real-time signals, so a child killed by one (SIGRTMIN+n) would be reaped and then reported
/// as EINVAL, losing its exit for good.
pub fn try_wait(pid: i32) -> io::Result<Option<Exit>> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes only `status`, a live local.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == 0 {
            return Ok(None);
        }
        match Errno::result(r) {
            Ok(_) => break,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
    } else {
        Exit::Code(libc::WEXITSTATUS(status))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(script: &str) -> SpawnSpec {
        SpawnSpec {
            argv0: None,
            file: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            env: vec!["PATH=/usr/bin:/bin".into(), "X=a=b".into()],
            cwd: None,
            stdio: [StdioSpec::Ignore, StdioSpec::Pipe, StdioSpec::Inherit],
            extra: Vec::new(),
            ipc_fd: Some(3),
            uid: None,
            gid: None,
            detached: false,
            death_signal: 0,
        }
    }

    fn wait(pid: i32) -> Exit {
        use nix::poll::{poll, PollFd, PollFlags};
        use std::os::fd::AsFd;
        let pidfd = pidfd_open(pid).unwrap();
        let _ = poll(&mut [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)], 5000u16);
        try_wait(pid).unwrap().unwrap()
    }

    #[test]
    fn pipes_env_channel_and_exit_code() {
        let s = spawn(spec("echo \"$X\"; echo hi >&3; exit 7")).unwrap();
        let mut out = String::new();
        use std::io::Read;
        let [_, out_fd, _] = s.stdio;
        std::fs::File::from(out_fd.unwrap()).read_to_string(&mut out).unwrap();
        assert_eq!(out, "a=b\n");
        let mut buf = [0u8; 8];
        let mut fds = Vec::new();
        let n = scm::recv(s.channel.as_ref().unwrap().as_raw_fd(), &mut buf, &mut fds).unwrap();
        assert_eq!(&buf[..n], b"hi\n");
        assert_eq!(wait(s.pid), Exit::Code(7));
    }

    #[test]
    fn child_gets_only_stdio_and_the_channel() {
        // fds the test harness itself lets children inherit (e.g. cargo's jobserver).
        let inherited: Vec<String> = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| {
                let fd: i32 = n.parse().unwrap();
                // Still open and not close-on-exec: /proc/self/fdinfo shows close-on-exec as
                // O_CLOEXEC in its octal flags (and nothing for a number closed meanwhile).
                let flags = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok().and_then(|info| {
                    let field = info.lines().find_map(|l| l.strip_prefix("flags:"))?;
                    i32::from_str_radix(field.trim(), 8).ok()
                });
                fd > 3 && flags.is_some_and(|f| f & nix::fcntl::OFlag::O_CLOEXEC.bits() == 0)
            })
            .collect();
        let s = spawn(spec("exec sleep 5")).unwrap();
        let mut fds = Vec::new();
        for _ in 0..200 {
            std::thread::sleep(std::time::Duration::from_millis(5));
            let exe = std::fs::read_link(format!("/proc/{}/exe", s.pid)).unwrap_or_default();
            if exe.to_string_lossy().contains("sleep") {
                fds = std::fs::read_dir(format!("/proc/{}/fd", s.pid))
                    .unwrap()
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect();
                break;
            }
        }
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(s.pid), nix::sys::signal::SIGKILL).unwrap();
        wait(s.pid);
        for std_fd in ["0", "1", "2", "3"] {
            assert!(fds.iter().any(|f| f == std_fd), "{fds:?}");
        }
        let extra: Vec<&String> = fds.iter().filter(|f| !["0", "1", "2", "3"].contains(&f.as_str())).collect();
        assert!(extra.iter().all(|f| inherited.contains(f)), "{fds:?} vs {inherited:?}");
    }

    #[test]
    fn signals_and_spawn_errors() {
        let s = spawn(spec("kill -TERM $$")).unwrap();
        assert_eq!(wait(s.pid), Exit::Signal(nix::sys::signal::SIGTERM as i32));
        let mut bad = spec("");
        bad.file = "/nonexistent/corral".into();
        assert_eq!(spawn(bad).err().and_then(|e| e.raw_os_error()), Some(Errno::ENOENT as i32));
    }
}
