//! Zeroconf advertisement: a real publish and browse on IPv4 loopback (a random mDNS port, nothing
//! leaves the host), the address selection as a pure function, and the error paths.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::{Duration, Instant};

use mdns_sd::{IfKind, Receiver, ResolvedService, ServiceDaemon, ServiceEvent};
use proptest::prelude::*;
use wyoming_proto::zeroconf::{
    Advertisement, InterfaceScope, SERVICE_TYPE, ZeroconfConfig, ZeroconfError, advertise_best_effort,
    advertised_addresses, select_addresses, validate_name,
};

const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// A random number, so that parallel test runs pick different mDNS ports and instance names.
fn random() -> u64 {
    RandomState::new().hash_one(Instant::now())
}

/// A port in 20000..40000 for the publisher and browser of one test to share.
fn random_mdns_port() -> u16 {
    20_000 + (random() % 20_000) as u16
}

fn loopback_config(name: &str, bind_host: &str, port: u16, mdns_port: u16) -> ZeroconfConfig {
    ZeroconfConfig { mdns_port, scope: InterfaceScope::Loopback, ..ZeroconfConfig::new(name, bind_host, port) }
}

/// A second daemon on the same port and only on IPv4 loopback, browsing `_wyoming._tcp.local.`.
fn loopback_browser(mdns_port: u16) -> (ServiceDaemon, Receiver<ServiceEvent>) {
    let daemon = ServiceDaemon::new_with_port(mdns_port).expect("browser daemon");
    daemon.disable_interface(IfKind::All).expect("disable");
    daemon.enable_interface(IfKind::LoopbackV4).expect("enable");
    let events = daemon.browse(SERVICE_TYPE).expect("browse");
    (daemon, events)
}

/// Waits for the instance `fullname` to be resolved.
async fn resolved(events: &Receiver<ServiceEvent>, fullname: &str) -> Box<ResolvedService> {
    let wait = async {
        loop {
            match events.recv_async().await.expect("browser channel") {
                ServiceEvent::ServiceResolved(service) if service.get_fullname().eq_ignore_ascii_case(fullname) => {
                    return service;
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(RESOLVE_TIMEOUT, wait)
        .await
        .unwrap_or_else(|_| panic!("{fullname} not resolved within {RESOLVE_TIMEOUT:?}"))
}

/// Waits for the instance `fullname` to be removed.
async fn removed(events: &Receiver<ServiceEvent>, fullname: &str) {
    let wait = async {
        loop {
            match events.recv_async().await.expect("browser channel") {
                ServiceEvent::ServiceRemoved(_, name) if name.eq_ignore_ascii_case(fullname) => {
                    return;
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(RESOLVE_TIMEOUT, wait)
        .await
        .unwrap_or_else(|_| panic!("{fullname} not removed within {RESOLVE_TIMEOUT:?}"));
}

fn addresses(service: &ResolvedService) -> Vec<IpAddr> {
    service.get_addresses().iter().map(|ip| ip.to_ip_addr()).collect()
}

/// Publishes, resolves from a second daemon, then stops and sees the service withdrawn.
async fn publish_and_resolve(bind_host: &str) {
    let mdns_port = random_mdns_port();
    let name = format!("wyoming-rs-test-{:08x}", random() as u32);
    let config = loopback_config(&name, bind_host, 10300, mdns_port);
    let fullname = config.fullname();
    assert_eq!(fullname, format!("{name}._wyoming._tcp.local."));

    let (browser, events) = loopback_browser(mdns_port);
    let started = Instant::now();
    let advertisement = Advertisement::start(&config).expect("start advertisement");
    assert_eq!(advertisement.fullname(), fullname);
    assert_eq!(advertisement.addresses(), [IpAddr::from(Ipv4Addr::LOCALHOST)]);

    let service = resolved(&events, &fullname).await;
    let resolve_time = started.elapsed();
    let found = addresses(&service);
    assert_eq!(service.get_port(), 10300);
    // The SRV target is the instance's full name, as the Python reference servers publish it.
    assert!(service.get_hostname().eq_ignore_ascii_case(&fullname));
    assert!(service.get_properties().is_empty(), "TXT has no properties");
    assert!(found.iter().all(|ip| !ip.is_unspecified()), "{found:?}");
    assert!(found.contains(&IpAddr::from(Ipv4Addr::LOCALHOST)), "{found:?}");

    // A goodbye (TTL 0) makes browsers drop the service one second later (RFC 6762 §10.1).
    let stopping = Instant::now();
    advertisement.stop().await;
    let stop_time = stopping.elapsed();
    removed(&events, &fullname).await;
    println!(
        "bind {bind_host:?}, mDNS port {mdns_port}: resolved {fullname} at {found:?} after {resolve_time:?}; \
         stop() took {stop_time:?}, browser removed it after {:?}",
        stopping.elapsed()
    );
    let _ = browser.shutdown();
}

#[tokio::test]
async fn wildcard_bind_is_resolved_on_loopback_with_a_real_address() {
    publish_and_resolve("0.0.0.0").await;
}

#[tokio::test]
async fn exact_bind_address_is_resolved_on_loopback() {
    publish_and_resolve("127.0.0.1").await;
}

/// python-zeroconf, which Home Assistant uses, resolves the advertisement too. It always uses port
/// 5353, so this test publishes there, confined to IPv4 loopback like the Python side. Skipped unless
/// `WYOMING_RS_PYTHON` names a Python that has the `zeroconf` package.
#[tokio::test]
async fn python_zeroconf_resolves_the_advertisement() {
    let Some(python) = std::env::var_os("WYOMING_RS_PYTHON") else {
        println!("skipped: WYOMING_RS_PYTHON is not set");
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/python/zeroconf_browse.py");
    let name = format!("wyoming-rs-py-{:08x}", random() as u32);
    let config = loopback_config(&name, "0.0.0.0", 10301, 5353);
    let advertisement = Advertisement::start(&config).expect("start advertisement");

    let started = Instant::now();
    let fullname = config.fullname();
    let output =
        tokio::task::spawn_blocking(move || Command::new(python).arg(script).arg(&fullname).arg("10").output())
            .await
            .expect("join");
    let output = match output {
        Ok(output) => output,
        Err(e) => {
            println!("skipped: cannot run WYOMING_RS_PYTHON: {e}");
            return;
        }
    };
    if output.status.code() == Some(77) {
        println!("skipped: the Python at WYOMING_RS_PYTHON has no `zeroconf` package");
        return;
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python-zeroconf did not resolve {}: {}{}",
        config.fullname(),
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let info: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON from script");
    println!("python-zeroconf resolved after {:?}: {info}", started.elapsed());
    assert!(info["name"].as_str().unwrap().eq_ignore_ascii_case(&config.fullname()));
    assert_eq!(info["port"], 10301);
    let found: Vec<&str> = info["addresses"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert!(found.contains(&"127.0.0.1"), "{found:?}");
    assert!(!found.contains(&"0.0.0.0"), "{found:?}");
    advertisement.stop().await;
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

/// What a typical host lists: loopback, link-local, LAN, a Docker bridge, IPv6 of every kind.
fn typical_host() -> Vec<IpAddr> {
    ips(&[
        "127.0.0.1",
        "::1",
        "192.168.1.20",
        "fe80::1c2d:3eff:fe4f:5a6b",
        "2001:db8::20",
        "fd00::20",
        "169.254.7.7",
        "172.17.0.1",
        "0.0.0.0",
        "::",
        "224.0.0.251",
        "192.168.1.20",
    ])
}

#[test]
fn wildcard_binds_advertise_real_addresses_only() {
    let host = typical_host();
    let v4 = ips(&["172.17.0.1", "192.168.1.20"]);
    for bind in ["0.0.0.0", "", "  ", "my-host", "my-host.lan"] {
        assert_eq!(select_addresses(bind, InterfaceScope::Network, &host), v4, "{bind:?}");
    }
    // Bound to `::`, the socket accepts both families: IPv6 that is not link-local is added.
    let dual = ips(&["172.17.0.1", "192.168.1.20", "2001:db8::20", "fd00::20"]);
    assert_eq!(select_addresses("::", InterfaceScope::Network, &host), dual);
    assert_eq!(select_addresses("[::]", InterfaceScope::Network, &host), dual);
    // Loopback scope (tests): IPv4 loopback only.
    assert_eq!(select_addresses("0.0.0.0", InterfaceScope::Loopback, &host), ips(&["127.0.0.1"]));
}

#[test]
fn exact_binds_advertise_exactly_that_address() {
    let host = typical_host();
    for (bind, expected) in [
        ("192.168.1.20", "192.168.1.20"),
        ("10.9.8.7", "10.9.8.7"),
        ("127.0.0.1", "127.0.0.1"),
        ("localhost", "127.0.0.1"),
        ("2001:db8::20", "2001:db8::20"),
        ("[2001:db8::20]", "2001:db8::20"),
        ("::ffff:192.168.1.20", "192.168.1.20"),
    ] {
        assert_eq!(select_addresses(bind, InterfaceScope::Network, &host), ips(&[expected]), "{bind:?}");
    }
}

#[test]
fn a_host_with_only_loopback_and_link_local_has_nothing_to_advertise() {
    let isolated = ips(&["127.0.0.1", "::1", "169.254.1.1", "fe80::1", "0.0.0.0"]);
    for bind in ["0.0.0.0", "::", ""] {
        assert!(select_addresses(bind, InterfaceScope::Network, &isolated).is_empty());
    }
    assert!(select_addresses("0.0.0.0", InterfaceScope::Network, &[]).is_empty());
}

/// On this machine, whatever its interfaces: a usable address set or the typed error, never 0.0.0.0.
#[test]
fn this_hosts_wildcard_addresses_are_real_or_an_error() {
    for bind in ["0.0.0.0", "::"] {
        match advertised_addresses(&ZeroconfConfig::new("x", bind, 10300)) {
            Ok(addresses) => {
                println!("{bind}: would advertise {addresses:?}");
                assert!(!addresses.is_empty());
                assert!(addresses.iter().all(|ip| !ip.is_unspecified() && !ip.is_loopback()), "{addresses:?}");
            }
            Err(ZeroconfError::NoAddress { .. }) => println!("{bind}: no usable address here"),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
}

proptest! {
    #[test]
    fn selection_never_yields_an_unspecified_address(
        candidates in prop::collection::vec(any::<IpAddr>(), 0..8),
        bind in prop_oneof![
            Just("0.0.0.0".to_owned()),
            Just("::".to_owned()),
            Just(String::new()),
            "[a-z]{1,10}",
            any::<IpAddr>().prop_map(|ip| ip.to_string()),
        ],
        loopback in any::<bool>(),
    ) {
        let scope = if loopback { InterfaceScope::Loopback } else { InterfaceScope::Network };
        let mut with_wildcards = candidates;
        with_wildcards.extend(ips(&["0.0.0.0", "::", "::ffff:0.0.0.0"]));
        let selected = select_addresses(&bind, scope, &with_wildcards);
        prop_assert!(selected.iter().all(|ip| !ip.is_unspecified()), "{:?}", selected);
    }
}

#[test]
fn invalid_names_are_typed_errors() {
    for name in ["", "faster.whisper", "back\\slash", "new\nline", &"x".repeat(64)] {
        let config = loopback_config(name, "127.0.0.1", 10300, random_mdns_port());
        assert!(matches!(validate_name(name), Err(ZeroconfError::InvalidName { .. })), "{name:?}");
        assert!(matches!(Advertisement::start(&config), Err(ZeroconfError::InvalidName { .. })), "{name:?}");
    }
    for name in ["faster-whisper", "piper", "Küche Piper", &"x".repeat(63)] {
        assert!(validate_name(name).is_ok(), "{name:?}");
    }
    let config = loopback_config("piper", "127.0.0.1", 0, random_mdns_port());
    assert!(matches!(Advertisement::start(&config), Err(ZeroconfError::InvalidPort)));
}

#[test]
fn best_effort_returns_none_on_an_impossible_config() {
    let mdns_port = random_mdns_port();
    assert!(advertise_best_effort(&loopback_config("a.b", "0.0.0.0", 10300, mdns_port)).is_none());
    assert!(advertise_best_effort(&loopback_config("piper", "0.0.0.0", 0, mdns_port)).is_none());
}
