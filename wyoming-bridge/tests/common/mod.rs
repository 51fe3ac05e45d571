//! Shared pieces of the bridge's Mumble tests: a real murmurd in a temporary directory, pymumble
//! peers driven over stdin/stdout (`tests/python/mumble_peer.py`), test speech, and the
//! lag-searching correlation that compares sent and received audio.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use wyoming_bridge::mumble::{Event, Identity, MumbleClient, MumbleConfig, TlsOptions, Trust};
use wyoming_tests::{ChildGuard, free_port};

pub mod rig;

pub const MURMURD: &str = "/usr/sbin/murmurd";

/// Audio tests measure timing and quality on a 2-core machine: one at a time.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

fn require(what: &str) -> bool {
    assert!(
        std::env::var_os("WYOMING_RS_REQUIRE_PEERS").is_none(),
        "{what} is required (WYOMING_RS_REQUIRE_PEERS) but missing: run `make setup`"
    );
    eprintln!("skipped: {what} is missing; run `make setup`");
    false
}

/// The pymumble venv's Python, or `None` (skip) when not provisioned.
pub fn mumble_python() -> Option<PathBuf> {
    let python = std::env::var_os("WYOMING_RS_MUMBLE_PYTHON").map(PathBuf::from).or_else(|| {
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/wyoming-rs/venv-mumble/bin/python"))
    });
    let ok = python.as_ref().is_some_and(|p| {
        Command::new(p)
            .args(["-c", "import pymumble_py3"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if ok {
        return python;
    }
    require("the pymumble venv (WYOMING_RS_MUMBLE_PYTHON)");
    None
}

pub fn murmurd_available() -> bool {
    Path::new(MURMURD).exists() || require("murmurd (Debian package mumble-server)")
}

/// A murmurd on 127.0.0.1 with its own ini and database in a temporary directory.
pub struct Murmur {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<ChildGuard>,
}

impl Murmur {
    /// Starts a fresh server; `superuser` sets the SuperUser password first (`-supw`).
    pub async fn start(superuser: Option<&str>) -> Murmur {
        Self::start_on(free_port(), superuser).await
    }

    pub async fn start_on(port: u16, superuser: Option<&str>) -> Murmur {
        Self::start_with(port, superuser, "").await
    }

    /// `extra` is appended to the ini (for example `serverpassword=...`).
    pub async fn start_with(port: u16, superuser: Option<&str>, extra: &str) -> Murmur {
        let dir = tempfile::tempdir().expect("tempdir");
        let user =
            Command::new("id").arg("-un").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        let ini = format!(
            "database={db}\nlogfile=\npidfile=\nhost=127.0.0.1\nport={port}\nwelcometext=Welcome to the test server\n\
             serverpassword=\nbandwidth=72000\nusers=100\nopusthreshold=0\ncertrequired=false\nallowping=true\n\
             sendversion=true\nautobanAttempts=0\nautobanTimeframe=0\nautobanTime=0\nkdfiterations=1000\n\
             registerName=\nbonjour=false\nuname={uname}\nmessagelimit=100\nmessageburst=100\n",
            db = dir.path().join("murmur.sqlite").display(),
            uname = user.unwrap_or_default(),
        ) + extra;
        std::fs::write(dir.path().join("murmur.ini"), ini).expect("write ini");
        let mut murmur = Murmur { dir, port, child: None };
        if let Some(password) = superuser {
            let status = Command::new(MURMURD)
                .arg("-ini")
                .arg(murmur.ini())
                .args(["-supw", password])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("murmurd -supw");
            assert!(status.success(), "murmurd -supw failed: {status}");
        }
        let started = Instant::now();
        murmur.spawn().await;
        eprintln!("murmurd ready in {:?}", started.elapsed());
        murmur
    }

    fn ini(&self) -> PathBuf {
        self.dir.path().join("murmur.ini")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("murmur.log")).unwrap_or_default()
    }

    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("murmur.log"))
            .expect("log file");
        let child = Command::new(MURMURD)
            .arg("-fg")
            .arg("-ini")
            .arg(self.ini())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start murmurd");
        self.child = Some(ChildGuard(child));
        self.wait_ready().await;
    }

    /// Ready = a TLS handshake succeeds and the first frame is a Version (reference §10.3): the log
    /// says "listening" before the certificate exists.
    pub async fn wait_ready(&self) {
        let start = Instant::now();
        let config = wyoming_bridge::mumble::tls::client_config(
            &TlsOptions { trust: Trust::Insecure, ..Default::default() },
            "127.0.0.1",
            self.port,
        )
        .expect("tls config");
        loop {
            if let Ok(Ok(true)) = tokio::time::timeout(Duration::from_secs(2), probe(config.clone(), self.port)).await {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "murmurd not ready after 20 s; log:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the server at once (the database keeps channels and the certificate).
    pub fn kill(&mut self) {
        self.child = None;
    }

    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }
}

async fn probe(config: Arc<rustls::ClientConfig>, port: u16) -> std::io::Result<bool> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").map_err(std::io::Error::other)?;
    let mut tls = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await?;
    let mut header = [0u8; 6];
    tls.read_exact(&mut header).await?;
    Ok(header[..2] == [0, 0])
}

/// A pymumble peer process.
pub struct Peer {
    _child: ChildGuard,
    stdin: ChildStdin,
    events: mpsc::UnboundedReceiver<Value>,
    pub session: u32,
    pub name: String,
}

impl Peer {
    pub async fn connect(python: &Path, port: u16, name: &str, password: Option<&str>) -> Peer {
        let mut command = Command::new(python);
        command
            .arg(wyoming_tests::python_script("mumble_peer.py"))
            .args(["127.0.0.1", &port.to_string(), name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(password) = password {
            command.arg(password);
        }
        let mut child: Child = command.spawn().expect("start mumble_peer.py");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, events) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => {
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                    Err(_) => eprintln!("peer: {line}"),
                }
            }
        });
        let mut peer = Peer { _child: ChildGuard(child), stdin, events, session: 0, name: name.to_string() };
        let started = Instant::now();
        let ready = peer.wait_for(|e| e["event"] == "ready", Duration::from_secs(20)).await;
        peer.session = ready["session"].as_u64().expect("session") as u32;
        eprintln!("peer {name} ready in {:?}", started.elapsed());
        peer
    }

    pub fn send(&mut self, command: Value) {
        writeln!(self.stdin, "{command}").expect("write to peer");
        self.stdin.flush().expect("flush peer");
    }

    /// The next event matching `pred` (earlier ones are dropped).
    pub async fn wait_for(&mut self, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(event)) if pred(&event) => return event,
                Ok(Some(_)) => {}
                Ok(None) => panic!("peer {} exited", self.name),
                Err(_) => panic!("peer {}: no matching event within {timeout:?}", self.name),
            }
        }
    }

    /// Waits until every one of `names` is on the server, for up to `within`.
    pub async fn wait_for_users(&mut self, names: &[&str], within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            self.send(json!({"cmd": "users"}));
            let users = self.wait_for(|e| e["event"] == "users", Duration::from_secs(5)).await;
            let on: Vec<&str> = users["users"].as_array().unwrap().iter().filter_map(|u| u["name"].as_str()).collect();
            if names.iter().all(|n| on.contains(n)) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{names:?} did not all join: {on:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn play(&mut self, pcm_file: &Path) -> Value {
        self.send(json!({"cmd": "play", "file": pcm_file}));
        self.wait_for(|e| e["event"] == "played", Duration::from_secs(60)).await
    }

    pub async fn record(&mut self, pcm_file: &Path) {
        self.send(json!({"cmd": "record", "file": pcm_file}));
        self.wait_for(|e| e["event"] == "ack", Duration::from_secs(10)).await;
    }

    pub async fn quit(mut self) {
        self.send(json!({"cmd": "quit"}));
        let _ = tokio::time::timeout(Duration::from_secs(5), self.events.recv()).await;
    }
}

/// One received chunk in a recording's log.
#[derive(Debug, Clone, Copy)]
pub struct Chunk {
    pub time: f64,
    pub session: u32,
    pub sequence: u64,
    pub bytes: usize,
}

pub fn read_recording(pcm_file: &Path) -> (Vec<i16>, Vec<Chunk>) {
    let pcm = read_pcm(pcm_file);
    let log = std::fs::read_to_string(format!("{}.log", pcm_file.display())).unwrap_or_default();
    let chunks = log
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            Some(Chunk {
                time: parts.next()?.parse().ok()?,
                session: parts.next()?.parse().ok()?,
                sequence: parts.next()?.parse().ok()?,
                bytes: parts.next()?.parse().ok()?,
            })
        })
        .collect();
    (pcm, chunks)
}

pub fn read_pcm(path: &Path) -> Vec<i16> {
    std::fs::read(path).unwrap_or_default().chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

pub fn write_pcm(path: &Path, pcm: &[i16]) {
    let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
    std::fs::write(path, bytes).expect("write pcm");
}

/// Test speech at 48 kHz mono: espeak-ng's 22 050 Hz output, linearly resampled (the resampled
/// signal itself is the reference, so interpolation quality does not matter).
pub fn speech(text: &str, voice: &str) -> Vec<i16> {
    let out = Command::new("espeak-ng")
        .args(["-v", voice, "--stdout", text])
        .output()
        .expect("espeak-ng (Debian package espeak-ng) must be installed");
    assert!(out.status.success(), "espeak-ng failed");
    // A canonical 44-byte WAV header from espeak-ng; find the "data" chunk to be safe.
    let data_at = out.stdout.windows(4).position(|w| w == b"data").expect("WAV data chunk") + 8;
    let src: Vec<f32> =
        out.stdout[data_at..].chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]]))).collect();
    let ratio = 22_050.0 / 48_000.0;
    let n = (src.len() as f64 / ratio) as usize;
    (0..n)
        .map(|i| {
            let pos = i as f64 * ratio;
            let j = pos as usize;
            let frac = (pos - j as f64) as f32;
            let a = src[j.min(src.len() - 1)];
            let b = src[(j + 1).min(src.len() - 1)];
            (a + (b - a) * frac) as i16
        })
        .collect()
}

/// The best normalised correlation between `sent` and `received` over lags in `-max_lag..=max_lag`
/// (received[i + lag] against sent[i]), and that lag. The lag is found on the first 3 s at a
/// quarter of the rate, then refined at full rate on the whole signal (a full search over 10 s of
/// audio takes minutes in a debug build).
pub fn best_correlation(sent: &[i16], received: &[i16], max_lag: isize) -> (f64, isize) {
    let to_f64 = |pcm: &[i16]| pcm.iter().map(|&s| f64::from(s)).collect::<Vec<f64>>();
    let decimate = |pcm: &[f64]| pcm.chunks(4).map(|c| c.iter().sum::<f64>() / c.len() as f64).collect::<Vec<f64>>();
    let (sent, received) = (to_f64(sent), to_f64(received));
    let excerpt = &sent[..sent.len().min(3 * 48_000)];
    let (coarse_sent, coarse_received) = (decimate(excerpt), decimate(&received));
    let coarse = search(&coarse_sent, &coarse_received, (-max_lag / 4)..=(max_lag / 4));
    search(&sent, &received, (coarse.1 * 4 - 8)..=(coarse.1 * 4 + 8))
}

fn search(sent: &[f64], received: &[f64], lags: std::ops::RangeInclusive<isize>) -> (f64, isize) {
    let mut best = (f64::MIN, 0);
    for lag in lags {
        let (mut dot, mut ss, mut rr) = (0f64, 0f64, 0f64);
        for (i, &s) in sent.iter().enumerate() {
            let j = i as isize + lag;
            if j < 0 || j as usize >= received.len() {
                continue;
            }
            let r = received[j as usize];
            dot += s * r;
            ss += s * s;
            rr += r * r;
        }
        let c = if ss > 0.0 && rr > 0.0 { dot / (ss.sqrt() * rr.sqrt()) } else { 0.0 };
        if c > best.0 {
            best = (c, lag);
        }
    }
    best
}

/// Our client, trusting the test server's generated certificate without a store.
pub fn our_client(port: u16, name: &str, channel: Option<&str>) -> (MumbleClient, mpsc::Receiver<Event>) {
    MumbleClient::start(MumbleConfig {
        host: "127.0.0.1".into(),
        port,
        identity: Identity { username: name.into(), channel: channel.map(String::from), ..Default::default() },
        tls: TlsOptions { trust: Trust::Insecure, ..Default::default() },
    })
    .expect("client config")
}

/// The next event matching `pred`, skipping others.
pub async fn next_event(events: &mut mpsc::Receiver<Event>, timeout: Duration, pred: impl Fn(&Event) -> bool) -> Event {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(event)) if pred(&event) => return event,
            Ok(Some(_)) => {}
            Ok(None) => panic!("client event stream ended"),
            Err(_) => panic!("no matching client event within {timeout:?}"),
        }
    }
}

pub async fn connected(events: &mut mpsc::Receiver<Event>) -> u32 {
    match next_event(events, Duration::from_secs(15), |e| matches!(e, Event::Connected(_))).await {
        Event::Connected(c) => c.session,
        _ => unreachable!(),
    }
}
