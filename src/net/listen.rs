//! Listening sockets made in the primary for workers: non-blocking and close-on-exec, like
//! libuv's (SO_REUSEADDR on TCP), plus SO_REUSEPORT for the per-worker schedule.
use std::ffi::CString;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

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

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn setopt(fd: RawFd, level: i32, name: i32, on: bool) -> io::Result<()> {
    let v: libc::c_int = on as libc::c_int;
    // SAFETY: int option on a live fd.
    cvt(unsafe {
        libc::setsockopt(fd, level, name, (&v as *const libc::c_int).cast(), std::mem::size_of_val(&v) as u32)
    })
    .map(drop)
}

fn socket(domain: i32, udp: bool) -> io::Result<OwnedFd> {
    let ty = if udp { libc::SOCK_DGRAM } else { libc::SOCK_STREAM };
    // SAFETY: plain syscall.
    let fd = cvt(unsafe { libc::socket(domain, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: just created.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn bind_ip(ip: IpAddr, port: u16, opts: Opts) -> io::Result<OwnedFd> {
    let (domain, storage, len) = sockaddr(ip, port);
    let fd = socket(domain, opts.udp)?;
    let raw = fd.as_raw_fd();
    if !opts.udp || opts.reuseaddr {
        setopt(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, true)?;
    }
    if opts.reuseport {
        setopt(raw, libc::SOL_SOCKET, libc::SO_REUSEPORT, true)?;
    }
    if domain == libc::AF_INET6 {
        setopt(raw, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, opts.ipv6_only)?;
    }
    // SAFETY: storage holds a sockaddr of `len` bytes.
    cvt(unsafe { libc::bind(raw, (&storage as *const libc::sockaddr_storage).cast(), len) })?;
    Ok(fd)
}

fn sockaddr(ip: IpAddr, port: u16) -> (i32, libc::sockaddr_storage, u32) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match ip {
        IpAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in.
            let sin = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as u16;
            sin.sin_port = port.to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.octets());
            (libc::AF_INET, ss, std::mem::size_of::<libc::sockaddr_in>() as u32)
        }
        IpAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as u16;
            sin6.sin6_port = port.to_be();
            sin6.sin6_addr.s6_addr = a.octets();
            (libc::AF_INET6, ss, std::mem::size_of::<libc::sockaddr_in6>() as u32)
        }
    }
}

fn bind_unix(path: &str, opts: Opts) -> io::Result<OwnedFd> {
    let fd = socket(libc::AF_UNIX, opts.udp)?;
    // SAFETY: zeroed sockaddr_un is valid.
    let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sun.sun_family = libc::AF_UNIX as u16;
    let c = CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let bytes = c.as_bytes_with_nul();
    if bytes.len() > sun.sun_path.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    for (d, s) in sun.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: sun is a complete sockaddr_un.
    cvt(unsafe {
        libc::bind(fd.as_raw_fd(), (&sun as *const libc::sockaddr_un).cast(), std::mem::size_of_val(&sun) as u32)
    })?;
    Ok(fd)
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
        // SAFETY: plain syscall on our fd.
        cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) })?;
    }
    Ok(fd)
}

/// The local address family of a socket: 4, 6, or 0 for others.
pub fn local_family(fd: RawFd) -> i32 {
    // SAFETY: getsockname fills at most `len` bytes of ss.
    unsafe {
        let mut ss: libc::sockaddr_storage = std::mem::zeroed();
        let mut len = std::mem::size_of_val(&ss) as u32;
        if libc::getsockname(fd, (&mut ss as *mut libc::sockaddr_storage).cast(), &mut len) < 0 {
            return 0;
        }
        match ss.ss_family as i32 {
            libc::AF_INET => 4,
            libc::AF_INET6 => 6,
            _ => 0,
        }
    }
}

/// The local port of an IP socket (0 for others).
pub fn local_port(fd: RawFd) -> u16 {
    // SAFETY: getsockname fills at most `len` bytes of ss.
    unsafe {
        let mut ss: libc::sockaddr_storage = std::mem::zeroed();
        let mut len = std::mem::size_of_val(&ss) as u32;
        if libc::getsockname(fd, (&mut ss as *mut libc::sockaddr_storage).cast(), &mut len) < 0 {
            return 0;
        }
        match ss.ss_family as i32 {
            libc::AF_INET => u16::from_be((*(&ss as *const _ as *const libc::sockaddr_in)).sin_port),
            libc::AF_INET6 => u16::from_be((*(&ss as *const _ as *const libc::sockaddr_in6)).sin6_port),
            _ => 0,
        }
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
        assert_eq!(err.raw_os_error(), Some(libc::EADDRINUSE));
        // SAFETY: F_GETFL/F_GETFD on our fd.
        let (fl, fdfl) = unsafe { (libc::fcntl(a.as_raw_fd(), libc::F_GETFL), libc::fcntl(a.as_raw_fd(), libc::F_GETFD)) };
        assert!(fl & libc::O_NONBLOCK != 0 && fdfl & libc::FD_CLOEXEC != 0);
    }
}
