//! Best-effort mDNS advertisement of `NAME._wyoming._tcp.local.`, so that Home Assistant finds a server
//! by itself.
//!
//! # What is published
//! The records of the reference servers (`wyoming.md` §10): a PTR from `_wyoming._tcp.local.` to
//! `NAME._wyoming._tcp.local.`, an SRV with the listening port, an empty TXT, and A (and, for a server
//! bound to `::`, AAAA) records. The SRV target is the instance's own full name, as python-zeroconf
//! writes it when given no `server`, which is what the reference servers do. Home Assistant resolves
//! the target like any host name. Using the instance name rather than `<hostname>.local.` means the
//! address records cannot clash with the ones avahi-daemon or systemd-resolved already publish for the
//! host, and a host name that is not a valid DNS label does not matter.
//!
//! # Which addresses
//! The reference servers put the bind host string in the A record, so the usual `tcp://0.0.0.0:…`
//! advertises `0.0.0.0`, which Home Assistant discards. Here ([`select_addresses`]):
//! - a specific bind address (`192.168.1.5`) is advertised exactly, and `localhost` as `127.0.0.1`;
//! - a wildcard (`0.0.0.0`, empty) or a host name is replaced by the host's real IPv4 addresses:
//!   not loopback, link-local, multicast or broadcast. `::` adds the IPv6 addresses that are not
//!   link-local, because on Linux a socket bound to `::` also accepts IPv4. A server bound to `0.0.0.0`
//!   gets no IPv6 address, since it could not be reached on one;
//! - the unspecified address is never advertised. A host with no usable address (an isolated
//!   container) gets [`ZeroconfError::NoAddress`], not an advertisement nobody can use.
//!
//! For a wildcard bind the daemon also follows address changes (a DHCP renewal, an interface that
//! comes up later) using the same rule, through mdns-sd's `addr_auto`. mdns-sd sends each address
//! only on the interface whose subnet holds it, so a LAN never hears a loopback address.
//!
//! # Why `mdns-sd` and not `zeroconf`
//! The `zeroconf` crate drives Avahi on Linux: it needs a running avahi-daemon and the system D-Bus
//! (containers and minimal hosts often have neither), and its `avahi-sys` build needs libclang and the
//! Avahi headers. `mdns-sd` is pure Rust with no system dependency. It answers on the mDNS port itself,
//! sharing it with avahi-daemon through `SO_REUSEPORT`. It can use another port and be confined to the
//! loopback interface, so `cargo test` checks a real advertisement without root and without sending a
//! packet on the network. python-zeroconf, the library Home Assistant uses, resolves what it publishes
//! (the test in `tests/zeroconf.rs` checks that when a Python with `zeroconf` is available).
//!
//! # Best effort
//! Discovery is a convenience: a server that cannot advertise still serves whoever is configured with
//! its address. Servers call [`advertise_best_effort`], which logs a warning and returns `None` on any
//! error. mdns-sd runs its own thread; nothing here blocks for long, so it is safe to call from async
//! code. Errors the daemon meets later (a socket it cannot open, a name conflict) are logged.

use std::collections::BTreeSet;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use mdns_sd::{DaemonEvent, IfKind, IfPredicate, ServiceDaemon, ServiceInfo};
use tracing::{debug, info, warn};

/// The service type Home Assistant browses for.
pub const SERVICE_TYPE: &str = "_wyoming._tcp.local.";

/// The standard mDNS port (RFC 6762).
pub const MDNS_PORT: u16 = 5353;

/// The longest instance name in bytes: one DNS label.
pub const MAX_NAME_LEN: usize = 63;

/// How long [`Advertisement::stop`] waits for each daemon confirmation before giving up.
///
/// Sending the goodbye packets takes milliseconds; the bound only matters if the daemon thread died.
const STOP_TIMEOUT: Duration = Duration::from_secs(1);

/// Which interfaces the advertisement uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InterfaceScope {
    /// Every interface of the host, advertising its real addresses. What servers use.
    #[default]
    Network,
    /// The IPv4 loopback interface only, advertising `127.0.0.1`: nothing leaves the host. For tests.
    Loopback,
}

/// What to advertise and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZeroconfConfig {
    /// The instance name, the `NAME` in `NAME._wyoming._tcp.local.`. It must be unique on the LAN.
    pub name: String,
    /// The port the Wyoming server listens on.
    pub port: u16,
    /// The host part of the server's `--uri` (`0.0.0.0`, `::`, `192.168.1.5`, `localhost`, …).
    pub bind_host: String,
    /// The UDP port mDNS uses: [`MDNS_PORT`] except in tests.
    pub mdns_port: u16,
    /// Which interfaces to use.
    pub scope: InterfaceScope,
}

impl ZeroconfConfig {
    /// A configuration on the standard mDNS port and every interface.
    pub fn new(name: impl Into<String>, bind_host: impl Into<String>, port: u16) -> Self {
        Self {
            name: name.into(),
            port,
            bind_host: bind_host.into(),
            mdns_port: MDNS_PORT,
            scope: InterfaceScope::Network,
        }
    }

    /// The full service instance name, `NAME._wyoming._tcp.local.`.
    pub fn fullname(&self) -> String {
        format!("{}.{SERVICE_TYPE}", self.name)
    }
}

/// Why an advertisement could not start.
#[derive(Debug, thiserror::Error)]
pub enum ZeroconfError {
    /// The instance name cannot be published.
    #[error("invalid zeroconf instance name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Port 0 cannot be connected to, and Home Assistant ignores a service without a port.
    #[error("cannot advertise port 0")]
    InvalidPort,
    /// The host has no address a client could connect to.
    #[error(
        "no usable network address to advertise for bind host {bind_host:?} \
         (only loopback, link-local or no interfaces, scope {scope:?}); \
         add the server to Home Assistant by host and port instead"
    )]
    NoAddress {
        /// The bind host from the configuration.
        bind_host: String,
        /// The interface scope from the configuration.
        scope: InterfaceScope,
    },
    /// Listing the host's interfaces failed.
    #[error("cannot list network interfaces: {0}")]
    Interfaces(#[source] io::Error),
    /// The mDNS daemon refused to start or to take the service.
    #[error("mDNS daemon: {0}")]
    Daemon(#[from] mdns_sd::Error),
}

/// Checks that `name` can be published as an instance name.
///
/// Dots and backslashes are refused although DNS-SD allows them escaped, because the name is also the
/// SRV target, where a dot would split it into labels.
pub fn validate_name(name: &str) -> Result<(), ZeroconfError> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("it is longer than 63 bytes")
    } else if name.contains(['.', '\\']) {
        Some("it contains a dot or a backslash")
    } else if name.chars().any(char::is_control) {
        Some("it contains a control character")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ZeroconfError::InvalidName { name: name.to_owned(), reason }),
        None => Ok(()),
    }
}

/// What the bind host asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BindHost {
    /// A specific address: advertise exactly it.
    Exact(IpAddr),
    /// Any address of the host; `ipv6` when the socket also accepts IPv6 (bound to `::`).
    Wildcard { ipv6: bool },
}

impl BindHost {
    fn parse(bind_host: &str) -> Self {
        let host = bind_host.trim();
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        match host.parse::<IpAddr>() {
            Ok(ip) => {
                let canonical = ip.to_canonical();
                if canonical.is_unspecified() {
                    Self::Wildcard { ipv6: canonical.is_ipv6() }
                } else {
                    Self::Exact(canonical)
                }
            }
            Err(_) if host.eq_ignore_ascii_case("localhost") => Self::Exact(Ipv4Addr::LOCALHOST.into()),
            // An empty host or a host name: what it resolves to is not known without a blocking
            // lookup, so use the host's own IPv4 addresses, as for `0.0.0.0`.
            Err(_) => Self::Wildcard { ipv6: false },
        }
    }
}

/// Whether a wildcard-bound server can be reached on `ip` from the chosen scope.
fn is_usable(ip: IpAddr, ipv6: bool, scope: InterfaceScope) -> bool {
    match (scope, ip) {
        (InterfaceScope::Loopback, IpAddr::V4(v4)) => v4.is_loopback(),
        (InterfaceScope::Loopback, IpAddr::V6(_)) => false,
        (InterfaceScope::Network, IpAddr::V4(v4)) => {
            !(v4.is_unspecified() || v4.is_loopback() || v4.is_link_local() || v4.is_multicast() || v4.is_broadcast())
        }
        (InterfaceScope::Network, IpAddr::V6(v6)) => {
            ipv6 && !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_unicast_link_local()
                || v6.is_multicast()
                || v6.to_ipv4_mapped().is_some())
        }
    }
}

/// The addresses to advertise for a server bound to `bind_host`, given the host's interface addresses
/// `candidates`, sorted (IPv4 first) and without duplicates. Never contains an unspecified address;
/// empty when nothing is usable.
pub fn select_addresses(bind_host: &str, scope: InterfaceScope, candidates: &[IpAddr]) -> Vec<IpAddr> {
    match BindHost::parse(bind_host) {
        BindHost::Exact(ip) => vec![ip],
        BindHost::Wildcard { ipv6 } => candidates
            .iter()
            .copied()
            .filter(|ip| is_usable(*ip, ipv6, scope))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    }
}

/// The addresses of the host's interfaces that are up, as mdns-sd itself lists them.
fn host_addresses() -> Result<Vec<IpAddr>, ZeroconfError> {
    let interfaces = if_addrs::get_if_addrs().map_err(ZeroconfError::Interfaces)?;
    Ok(interfaces.iter().filter(|intf| intf.is_oper_up() && !intf.is_p2p()).map(if_addrs::Interface::ip).collect())
}

/// The addresses [`Advertisement::start`] would advertise for `config` on this host right now.
pub fn advertised_addresses(config: &ZeroconfConfig) -> Result<Vec<IpAddr>, ZeroconfError> {
    let candidates = match BindHost::parse(&config.bind_host) {
        BindHost::Exact(_) => Vec::new(),
        BindHost::Wildcard { .. } => host_addresses()?,
    };
    let addresses = select_addresses(&config.bind_host, config.scope, &candidates);
    if addresses.is_empty() {
        return Err(ZeroconfError::NoAddress { bind_host: config.bind_host.clone(), scope: config.scope });
    }
    Ok(addresses)
}

/// A live advertisement. Dropping it withdraws the service (without waiting); [`stop`](Self::stop)
/// withdraws it and waits until the goodbye packets are sent.
pub struct Advertisement {
    /// `None` once stopped.
    daemon: Option<ServiceDaemon>,
    fullname: String,
    addresses: Vec<IpAddr>,
}

impl fmt::Debug for Advertisement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Advertisement")
            .field("fullname", &self.fullname)
            .field("addresses", &self.addresses)
            .field("running", &self.daemon.is_some())
            .finish()
    }
}

impl Advertisement {
    /// Starts an mDNS daemon and publishes the service. Returns once the daemon has the service; the
    /// announcement follows within about a second, after the name is probed.
    pub fn start(config: &ZeroconfConfig) -> Result<Self, ZeroconfError> {
        validate_name(&config.name)?;
        if config.port == 0 {
            return Err(ZeroconfError::InvalidPort);
        }
        let addresses = advertised_addresses(config)?;
        let fullname = config.fullname();

        let mut service = ServiceInfo::new(
            SERVICE_TYPE,
            &config.name,
            &fullname,
            addresses.as_slice(),
            config.port,
            None::<HashMap<String, String>>,
        )?;
        if let BindHost::Wildcard { ipv6 } = BindHost::parse(&config.bind_host) {
            let scope = config.scope;
            service.set_interfaces(vec![IfKind::Predicate(IfPredicate::new(move |intf| {
                intf.is_oper_up() && !intf.is_p2p() && is_usable(intf.ip(), ipv6, scope)
            }))]);
            service = service.enable_addr_auto();
        }

        let daemon = ServiceDaemon::new_with_port(config.mdns_port)?;
        let advertisement = Self { daemon: Some(daemon.clone()), fullname, addresses };
        if config.scope == InterfaceScope::Loopback {
            daemon.disable_interface(IfKind::All)?;
            daemon.enable_interface(IfKind::LoopbackV4)?;
        }
        spawn_event_logger(&daemon, &advertisement.fullname)?;
        daemon.register(service)?;
        info!(
            name = %advertisement.fullname,
            port = config.port,
            addresses = ?advertisement.addresses,
            "advertising over mDNS"
        );
        Ok(advertisement)
    }

    /// The full instance name, `NAME._wyoming._tcp.local.`.
    pub fn fullname(&self) -> &str {
        &self.fullname
    }

    /// The addresses advertised at start. For a wildcard bind the daemon follows later changes.
    pub fn addresses(&self) -> &[IpAddr] {
        &self.addresses
    }

    /// Withdraws the service (goodbye packets, so browsers drop it at once) and stops the daemon,
    /// waiting at most about two seconds in all.
    pub async fn stop(mut self) {
        let Some(daemon) = self.daemon.take() else {
            return;
        };
        match daemon.unregister(&self.fullname) {
            Ok(status) => match tokio::time::timeout(STOP_TIMEOUT, status.recv_async()).await {
                Ok(Ok(status)) => debug!(name = %self.fullname, ?status, "mDNS service withdrawn"),
                Ok(Err(_)) | Err(_) => {
                    debug!(name = %self.fullname, "no mDNS unregister confirmation")
                }
            },
            Err(e) => debug!(name = %self.fullname, error = %e, "mDNS unregister failed"),
        }
        match daemon.shutdown() {
            Ok(status) => {
                let _ = tokio::time::timeout(STOP_TIMEOUT, status.recv_async()).await;
            }
            Err(e) => debug!(error = %e, "mDNS daemon shutdown failed"),
        }
    }
}

impl Drop for Advertisement {
    fn drop(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            // The daemon runs commands in order, so the goodbye goes out before it exits; nothing here
            // waits, which keeps `drop` safe inside an async runtime.
            let _ = daemon.unregister(&self.fullname);
            let _ = daemon.shutdown();
        }
    }
}

/// Logs what the daemon reports later: socket errors, name conflicts, address changes. The thread ends
/// when the daemon shuts down and drops the channel.
fn spawn_event_logger(daemon: &ServiceDaemon, fullname: &str) -> Result<(), ZeroconfError> {
    let events = daemon.monitor()?;
    let name = fullname.to_owned();
    let spawned = std::thread::Builder::new().name("wyoming-mdns-log".into()).spawn(move || {
        while let Ok(event) = events.recv() {
            match event {
                DaemonEvent::Error(e) => warn!(%name, error = %e, "mDNS advertisement error"),
                DaemonEvent::NameChange(change) => warn!(
                    %name,
                    original = %change.original,
                    new_name = %change.new_name,
                    "mDNS name conflict: another host uses this name, advertising under a new one"
                ),
                DaemonEvent::IpAdd(ip) => debug!(%name, %ip, "mDNS: address added"),
                DaemonEvent::IpDel(ip) => debug!(%name, %ip, "mDNS: address removed"),
                DaemonEvent::Announce(_, addrs) => debug!(%name, %addrs, "mDNS: announced"),
                _ => {}
            }
        }
    });
    if let Err(e) = spawned {
        // Only the logging is lost; the advertisement itself does not depend on this thread.
        debug!(error = %e, "cannot spawn the mDNS event logger");
    }
    Ok(())
}

/// Starts an advertisement, or logs a warning and returns `None`: the server keeps running without
/// discovery. Keep the returned value alive for as long as the server runs.
pub fn advertise_best_effort(config: &ZeroconfConfig) -> Option<Advertisement> {
    match Advertisement::start(config) {
        Ok(advertisement) => Some(advertisement),
        Err(e) => {
            warn!(
                name = %config.name,
                error = %e,
                "zeroconf advertisement unavailable; the server keeps running without discovery"
            );
            None
        }
    }
}
