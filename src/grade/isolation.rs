//! Keeping a program that ignores `PORT` from depending on the machine.
//!
//! Such a program listens where the book's does, port 60300, whatever the
//! grader tells it; whether that port is free depends on what else runs.
//! Two ways keep its verdict the same on every machine:
//!
//! - [`enter_private_network`] moves the calling thread into a network
//!   namespace of its own, with only a loopback interface: every program
//!   it starts, and every socket it opens, lives there, where port 60300
//!   is free whatever the machine runs. Linux allows it to root (as the
//!   grader runs here and in CI); [`private_networks_work`] tells.
//! - Where that is not allowed, [`BooksAddressLock`] lets one grading at a
//!   time (in this process or any other) use the book's address, and the
//!   grader checks that nothing else holds it; if something does, the
//!   behaviour is not run, with that reason.
//!
//! A Unix socket's path is in the file system, which a network namespace
//! does not separate: a program on `/tmp/watcher.sock` always takes the
//! second way.

use std::io;
use std::os::fd::AsRawFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::OnceLock;

use nix::sched::{CloneFlags, unshare};
use nix::sys::socket::sockopt::ReceiveTimeout;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, recv, sendto,
    setsockopt, socket,
};
use nix::sys::time::TimeVal;

use super::net::Address;

/// Moves the calling thread into a new network namespace, with its
/// loopback interface up: from then on, the sockets it opens and the
/// programs it starts see only that namespace. The thread cannot come
/// back; run it on a thread of its own.
pub fn enter_private_network() -> io::Result<()> {
    // The ports the grader hands out are claimed by a socket in the
    // namespace it is claimed from: claimed later, from inside, it would
    // keep no other grader on this machine from the same ports.
    super::net::claim_port_block();
    let before = network_namespace();
    unshare(CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
    // A program graded in the namespace it was meant to leave would meet
    // whatever holds port 60300 there: better not run than misjudged.
    if network_namespace() == before {
        return Err(io::Error::other(
            "the thread's network namespace is the same after unshare",
        ));
    }
    bring_loopback_up()
}

/// The calling thread's network namespace, as Linux names it
/// (`net:[4026531840]`), if it can be read.
pub fn network_namespace() -> Option<std::path::PathBuf> {
    std::fs::read_link("/proc/thread-self/ns/net").ok()
}

/// Whether [`enter_private_network`] works here: tried once, on a thread
/// of its own, and remembered.
pub fn private_networks_work() -> bool {
    static WORKS: OnceLock<bool> = OnceLock::new();
    *WORKS.get_or_init(|| {
        std::thread::spawn(|| {
            enter_private_network().is_ok()
                && std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).is_ok()
        })
        .join()
        .unwrap_or(false)
    })
}

/// Runs `test` on a thread of its own in a network namespace of its own,
/// where nothing else listens or connects; says SKIPPED and returns where
/// the machine allows no such namespace. For the tests.
#[cfg(test)]
pub(crate) fn in_a_network_of_its_own(test: impl FnOnce() + Send + 'static) {
    if !private_networks_work() {
        eprintln!("SKIPPED: this machine allows no private network namespace");
        return;
    }
    std::thread::spawn(|| {
        enter_private_network().unwrap();
        test();
    })
    .join()
    .unwrap();
}

/// The loopback interface's index in a new namespace, where it is the
/// only one.
const LOOPBACK_INDEX: i32 = 1;

/// Sets the loopback interface up, through a netlink socket: a new
/// namespace has it, down, and nothing listens on 127.0.0.1 until it is
/// up.
fn bring_loopback_up() -> io::Result<()> {
    let netlink = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )
    .map_err(io::Error::from)?;
    // The kernel answers at once, or not at all (a request it does not
    // take as one): a wait without end would hang the grading, so a reply
    // not there within a second is an error.
    setsockopt(&netlink, ReceiveTimeout, &TimeVal::new(1, 0)).map_err(io::Error::from)?;
    let request = link_up_request(LOOPBACK_INDEX, 1);
    sendto(
        netlink.as_raw_fd(),
        &request,
        &NetlinkAddr::new(0, 0),
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    let mut reply = [0u8; 1024];
    let read = recv(netlink.as_raw_fd(), &mut reply, MsgFlags::empty()).map_err(io::Error::from)?;
    acknowledgement(&reply[..read])
}

/// `RTM_NEWLINK`, from `linux/rtnetlink.h`.
const RTM_NEWLINK: u16 = 16;
/// `NLMSG_ERROR`, the type of an acknowledgement.
const NLMSG_ERROR: u16 = 2;
/// `NLM_F_REQUEST | NLM_F_ACK`.
const REQUEST_WITH_ACK: u16 = 1 | 4;
/// `IFF_UP`.
const IFF_UP: u32 = 1;

/// A netlink request to set interface `index` up: a `nlmsghdr` (length,
/// type, flags, sequence, port) and an `ifinfomsg` (family, padding, type,
/// index, flags, the mask of flags to change), in the machine's byte
/// order, as the kernel reads them.
fn link_up_request(index: i32, sequence: u32) -> Vec<u8> {
    let mut request = Vec::with_capacity(32);
    request.extend_from_slice(&32u32.to_ne_bytes());
    request.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
    request.extend_from_slice(&REQUEST_WITH_ACK.to_ne_bytes());
    request.extend_from_slice(&sequence.to_ne_bytes());
    request.extend_from_slice(&0u32.to_ne_bytes());
    request.extend_from_slice(&[0, 0]);
    request.extend_from_slice(&0u16.to_ne_bytes());
    request.extend_from_slice(&index.to_ne_bytes());
    request.extend_from_slice(&IFF_UP.to_ne_bytes());
    request.extend_from_slice(&IFF_UP.to_ne_bytes());
    request
}

/// Whether `reply` acknowledges a request: an `NLMSG_ERROR` message whose
/// error number is 0; else the error it carries.
fn acknowledgement(reply: &[u8]) -> io::Result<()> {
    let field = |at: usize| {
        reply
            .get(at..at + 4)
            .map(|bytes| <[u8; 4]>::try_from(bytes).unwrap_or_default())
    };
    let kind = reply
        .get(4..6)
        .map(|bytes| u16::from_ne_bytes([bytes[0], bytes[1]]));
    match (kind, field(16).map(i32::from_ne_bytes)) {
        (Some(NLMSG_ERROR), Some(0)) => Ok(()),
        (Some(NLMSG_ERROR), Some(error)) => Err(io::Error::from_raw_os_error(-error)),
        _ => Err(io::Error::other("no acknowledgement from the kernel")),
    }
}

/// The right to use the book's address for a while: one holder at a time
/// on the machine (in this network namespace), across every grader
/// process. Held by binding a Unix datagram socket to an abstract name
/// made from the address: a second bind of the name fails, and the OS
/// frees it when the holder drops it or ends, however it ends.
#[derive(Debug)]
pub struct BooksAddressLock {
    _held: UnixDatagram,
}

impl BooksAddressLock {
    /// Takes the lock for `address`, if nobody holds it.
    pub fn try_take(address: &Address) -> Option<BooksAddressLock> {
        let name = format!("net-watcher-grade:{address}");
        let name = SocketAddr::from_abstract_name(name.as_bytes()).ok()?;
        UnixDatagram::bind_addr(&name)
            .ok()
            .map(|held| BooksAddressLock { _held: held })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn the_request_sets_one_interface_up() {
        let request = link_up_request(1, 7);
        assert_eq!(request.len(), 32);
        let word = |at: usize| u32::from_ne_bytes(request[at..at + 4].try_into().unwrap());
        let half = |at: usize| u16::from_ne_bytes(request[at..at + 2].try_into().unwrap());
        assert_eq!(word(0), 32);
        assert_eq!(half(4), 16);
        assert_eq!(half(6), 5);
        assert_eq!(word(8), 7);
        assert_eq!(word(12), 0);
        assert_eq!(&request[16..20], &[0, 0, 0, 0]);
        assert_eq!(word(20), 1);
        assert_eq!(word(24), 1);
        assert_eq!(word(28), 1);
    }

    fn reply(kind: u16, error: i32) -> Vec<u8> {
        let mut reply = vec![0u8; 36];
        reply[4..6].copy_from_slice(&kind.to_ne_bytes());
        reply[16..20].copy_from_slice(&error.to_ne_bytes());
        reply
    }

    #[test]
    fn an_acknowledgement_is_an_error_message_with_no_error() {
        assert!(acknowledgement(&reply(2, 0)).is_ok());
        let refused = acknowledgement(&reply(2, -1)).unwrap_err();
        assert_eq!(refused.raw_os_error(), Some(1));
        assert!(acknowledgement(&reply(3, 0)).is_err());
        assert!(acknowledgement(&[0u8; 10]).is_err());
        assert!(acknowledgement(&[]).is_err());
    }

    #[test]
    fn the_books_address_has_one_holder_at_a_time() {
        let address = Address::Unix(PathBuf::from("/tmp/a-lock-for-a-unit-test"));
        let first = BooksAddressLock::try_take(&address).expect("a free lock");
        assert!(BooksAddressLock::try_take(&address).is_none());
        let other = Address::Unix(PathBuf::from("/tmp/another-lock-for-a-unit-test"));
        assert!(BooksAddressLock::try_take(&other).is_some());
        drop(first);
        assert!(BooksAddressLock::try_take(&address).is_some());
    }

    /// Whether the OS lets a thread of this process into a network
    /// namespace of its own: asked of the OS directly, not through the
    /// code under test.
    fn the_os_allows_private_networks() -> bool {
        std::thread::spawn(|| unshare(CloneFlags::CLONE_NEWNET).is_ok())
            .join()
            .unwrap()
    }

    /// Set for this test binary run again without privileges (see
    /// `private_networks_are_known_not_to_work_without_privileges`).
    const UNPRIVILEGED: &str = "NET_WATCHER_GRADE_TEST_UNPRIVILEGED";

    #[test]
    fn private_networks_work_exactly_where_the_os_allows_them() {
        let allowed = the_os_allows_private_networks();
        assert_eq!(private_networks_work(), allowed);
        if std::env::var_os(UNPRIVILEGED).is_some() {
            assert!(!allowed, "run without privileges");
            println!("checked without privileges");
        }
    }

    #[test]
    fn private_networks_are_known_not_to_work_without_privileges() {
        use std::os::unix::fs::MetadataExt;
        // /proc/self belongs to the process's effective user.
        if std::fs::metadata("/proc/self").map_or(true, |me| me.uid() != 0) {
            eprintln!("SKIPPED: not root, so already without privileges");
            return;
        }
        // This test binary, run again as `nobody` for the test above.
        let output = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "grade::isolation::tests::private_networks_work_exactly_where_the_os_allows_them",
                "--nocapture",
            ])
            .env(UNPRIVILEGED, "1")
            .output();
        let Ok(output) = output else {
            eprintln!("SKIPPED: no setpriv on this machine");
            return;
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("checked without privileges"),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Checked in a process of its own (the block is claimed once per
    /// process, by whichever test asks first): the test binary, run again
    /// with only this test and a variable that lets it run.
    #[test]
    fn the_port_block_is_claimed_on_the_machines_network_before_leaving_it() {
        if !the_os_allows_private_networks() {
            eprintln!("SKIPPED: this machine allows no private network namespace");
            return;
        }
        const ALONE: &str = "NET_WATCHER_PORT_BLOCK_ALONE";
        if std::env::var_os(ALONE).is_none() {
            let output = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "grade::isolation::tests::the_port_block_is_claimed_on_the_machines_network_before_leaving_it",
                    "--nocapture",
                ])
                .env(ALONE, "1")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success() && stdout.contains("1 passed"),
                "{stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            );
            return;
        }
        // First thing in this process: a thread leaves for a private
        // network, and asks for a port there, as a grading does.
        std::thread::spawn(|| {
            enter_private_network().unwrap();
            super::super::net::free_port()
        })
        .join()
        .unwrap();
        // The block's claim (a UDP socket on its first port) holds here.
        let first = super::super::net::port_block_first();
        assert!(
            std::net::UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, first)).is_err(),
            "the claim on {first} is not on this network"
        );
    }

    #[test]
    fn a_private_network_has_a_loopback_of_its_own() {
        if !the_os_allows_private_networks() {
            eprintln!("SKIPPED: this machine allows no private network namespace");
            return;
        }
        let outside = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = outside.local_addr().unwrap().port();
        let ours = network_namespace().expect("a network namespace");
        let inside = std::thread::spawn(move || {
            enter_private_network().unwrap();
            assert_ne!(network_namespace(), Some(ours));
            let answering = Address::Tcp(port).is_answering();
            let bound = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)).is_ok();
            (answering, bound)
        })
        .join()
        .unwrap();
        assert_eq!(inside, (false, true));
        assert!(Address::Tcp(port).is_answering());
    }
}
