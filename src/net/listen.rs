//! Listening sockets made in the primary for workers: non-blocking and close-on-exec, like
//! libuv's (SO_REUSEADDR on TCP), plus SO_REUSEPORT for the per-worker schedule.
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{
    self, getsockname, setsockopt, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn, SockaddrIn6, SockaddrLike,
    SockaddrStorage, UnixAddr,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    /// `host` None means "any address": IPv6 `::` (dual stack) when available, else 0.0.0.0.
    Tcp { host: Option<IpAddr>, port: u16 },
    Unix(String),
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Opts {
    pub reuseport: bool,
    pub ipv6_only: bool,
    /// listen(2) with this backlog; None leaves the socket bound only.
    pub backlog: Option<i32>,
    pub udp: bool,
    /// SO_REUSEADDR on a UDP socket (dgram's reuseAddr).
    pub reuseaddr: bool,
}

fn socket(family: AddressFamily, udp: bool) -> io::Result<OwnedFd> {
    let ty = if udp { SockType::Datagram } else { SockType::Stream };
    Ok(socket::socket(family, ty, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC, None)?)
}

fn bind_ip(ip: IpAddr, port: u16, opts: Opts) -> io::Result<OwnedFd> {
    let family = if ip.is_ipv6() { AddressFamily::Inet6 } else { AddressFamily::Inet };
    let fd = socket(family, opts.udp)?;
    if !opts.udp || opts.reuseaddr {
        setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    }
    if opts.reuseport {
        setsockopt(&fd, sockopt::ReusePort, &true)?;
    }
    match ip {
        IpAddr::V4(a) => socket::bind(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(a, port)))?,
        IpAddr::V6(a) => {
            setsockopt(&fd, sockopt::Ipv6V6Only, &opts.ipv6_only)?;
            socket::bind(fd.as_raw_fd(), &SockaddrIn6::from(SocketAddrV6::new(a, port, 0, 0)))?
        }
    }
    Ok(fd)
}

fn bind_unix(path: &str, opts: Opts) -> io::Result<OwnedFd> {
    let fd = socket(AddressFamily::Unix, opts.udp)?;
    // A leading NUL names an abstract socket (Linux). An empty path binds the all-zero sun_path
    // of full length, as a zeroed sockaddr_un always did here.
    let addr = if path.is_empty() {
        UnixAddr::new_abstract(&[0; 107])
    } else if let Some(name) = path.strip_prefix('\0') {
        UnixAddr::new_abstract(name.as_bytes())
    } else {
        UnixAddr::new(path)
    };
    // The errors libuv's pipe bind gives, which Node reports: EINVAL for a name too long (or
    // with a NUL inside), EACCES for a directory that does not exist.
    let addr = addr.map_err(|e| if e == Errno::ENAMETOOLONG { Errno::EINVAL } else { e })?;
    socket::bind(fd.as_raw_fd(), &addr).map_err(|e| if e == Errno::ENOENT { Errno::EACCES } else { e })?;
    Ok(fd)
}

/// listen(2) with any backlog, as libuv passes it: the kernel caps it at net.core.somaxconn
/// (and treats a negative one as that cap). nix's `listen` takes a `Backlog`, which refuses
/// values outside -1..=SOMAXCONN, hence the raw call.
fn listen(fd: impl AsFd, backlog: i32) -> io::Result<()> {
    // SAFETY: listen(2) on a descriptor the borrow keeps open; it reads no memory of ours.
    Errno::result(unsafe { libc::listen(fd.as_fd().as_raw_fd(), backlog) })?;
    Ok(())
}

/// A bound (and, with a backlog, listening) socket; errors carry the errno.
pub fn open(addr: &Addr, opts: Opts) -> io::Result<OwnedFd> {
    let fd = match addr {
        Addr::Tcp { host: Some(ip), port } => bind_ip(*ip, *port, opts)?,
        Addr::Tcp { host: None, port } => match bind_ip(IpAddr::V6(Ipv6Addr::UNSPECIFIED), *port, opts) {
            Ok(fd) => fd,
            Err(_) => bind_ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED), *port, opts)?,
        },
        Addr::Unix(path) => bind_unix(path, opts)?,
    };
    if let Some(backlog) = opts.backlog {
        listen(&fd, backlog)?;
    }
    Ok(fd)
}

fn local_addr(fd: RawFd) -> Option<SockaddrStorage> {
    getsockname::<SockaddrStorage>(fd).ok()
}

/// The local address family of a socket: 4, 6, or 0 for others.
pub fn local_family(fd: RawFd) -> i32 {
    match local_addr(fd).and_then(|a| a.family()) {
        Some(AddressFamily::Inet) => 4,
        Some(AddressFamily::Inet6) => 6,
        _ => 0,
    }
}

/// The local port of an IP socket (0 for others).
pub fn local_port(fd: RawFd) -> u16 {
    let Some(a) = local_addr(fd) else { return 0 };
    if let Some(sin) = a.as_sockaddr_in() {
        sin.port()
    } else if let Some(sin6) = a.as_sockaddr_in6() {
        sin6.port()
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_and_reuseport() {
        let opts = Opts { reuseport: true, backlog: None, ..Default::default() };
        let lo = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let holder = open(&Addr::Tcp { host: lo, port: 0 }, opts).unwrap();
        let port = local_port(holder.as_raw_fd());
        assert!(port > 0);
        let listening = Opts { backlog: Some(16), ..opts };
        let a = open(&Addr::Tcp { host: lo, port }, listening).unwrap();
        let b = open(&Addr::Tcp { host: lo, port }, listening).unwrap();
        assert_eq!(local_port(a.as_raw_fd()), port);
        assert_eq!(local_port(b.as_raw_fd()), port);
        // Without SO_REUSEPORT the port is taken.
        let plain = Opts { backlog: Some(16), ..Default::default() };
        let err = open(&Addr::Tcp { host: lo, port }, plain).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(Errno::EADDRINUSE as i32));
        use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
        let fl = OFlag::from_bits_retain(fcntl(&a, FcntlArg::F_GETFL).unwrap());
        let fdfl = FdFlag::from_bits_retain(fcntl(&a, FcntlArg::F_GETFD).unwrap());
        assert!(fl.contains(OFlag::O_NONBLOCK) && fdfl.contains(FdFlag::FD_CLOEXEC));
    }

    #[test]
    fn unix_paths_and_big_backlogs() {
        let path = std::env::temp_dir().join(format!("corral-listen-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let p = path.to_str().unwrap().to_string();
        // A backlog beyond SOMAXCONN is capped by the kernel, not refused.
        let fd = open(&Addr::Unix(p.clone()), Opts { backlog: Some(1 << 20), ..Default::default() }).unwrap();
        assert_eq!(local_family(fd.as_raw_fd()), 0);
        assert_eq!(local_port(fd.as_raw_fd()), 0);
        std::fs::remove_file(&path).unwrap();
        // libuv's errors, as Node reports them: EINVAL for a name too long, EACCES for a
        // directory that does not exist.
        let long = format!("/tmp/{}", "x".repeat(200));
        let err = open(&Addr::Unix(long), Opts::default()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(Errno::EINVAL as i32));
        let err = open(&Addr::Unix("/tmp/a\0b".into()), Opts::default()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(Errno::EINVAL as i32));
        let err = open(&Addr::Unix("/nonexistent-dir-of-corral/s".into()), Opts::default()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(Errno::EACCES as i32));
    }

    #[test]
    fn abstract_unix_names() {
        let name = format!("\0corral-abstract-{}", std::process::id());
        let fd = open(&Addr::Unix(name.clone()), Opts { backlog: Some(8), ..Default::default() }).unwrap();
        // The name is taken while the socket lives, and no file was made.
        let again = open(&Addr::Unix(name.clone()), Opts::default()).unwrap_err();
        assert_eq!(again.raw_os_error(), Some(Errno::EADDRINUSE as i32));
        assert!(!std::path::Path::new(&name[1..]).exists());
        drop(fd);
    }
}
