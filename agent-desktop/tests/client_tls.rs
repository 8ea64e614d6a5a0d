//! `wss://`: the CTI client logs in over TLS to a switch whose certificate comes from the
//! center's own CA when that CA is configured (`--ca-cert`), and refuses the same server
//! without it (it keeps retrying and never logs in).

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hotline_cti::{
    AgentProfile, Command, Reply, Role, Secret, ServerFrame, decode_client, encode_server,
};
use hotline_desktop::client::{self, ClientConfig, ClientRequest, ClientUpdate, ConnState};
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_tungstenite::tungstenite::Message;

/// A TLS WebSocket server that answers hello and login, then idles.
async fn serve(listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor) {
    while let Ok((tcp, _)) = listener.accept().await {
        let Ok(tls) = acceptor.accept(tcp).await else {
            continue; // the client refused our certificate
        };
        let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else {
            continue;
        };
        while let Some(Ok(Message::Text(t))) = ws.next().await {
            let frame = decode_client(t.as_str()).expect("client frame");
            let reply = match frame.cmd {
                Command::Hello { .. } => Reply::Welcome {
                    version: 1,
                    server: "tls".into(),
                    heartbeat_secs: 30,
                    max_frame_bytes: 65536,
                },
                Command::Login { .. } => Reply::LoggedIn {
                    session: Secret::new("s"),
                    role: Role::Agent,
                    profile: AgentProfile {
                        agent: "1001".into(),
                        name: "Alice".into(),
                        extension: "2001".into(),
                        skills: vec![],
                        remote_answer: false,
                        queues: Vec::new(),
                    },
                    not_ready_reasons: vec![],
                    dispositions: vec![],
                },
                _ => Reply::Done,
            };
            let text = encode_server(&ServerFrame::ok(frame.id, reply)).expect("encode");
            if ws.send(Message::text(text)).await.is_err() {
                break;
            }
        }
    }
}

struct Setup {
    rt: tokio::runtime::Runtime,
    url: String,
    ca_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, key.cert.pem()).expect("write pem");

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![key.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into()),
        )
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    rt.spawn(serve(listener, acceptor));
    Setup {
        rt,
        url: format!("wss://localhost:{port}/cti"),
        ca_file,
        _dir: dir,
    }
}

fn login(config: ClientConfig, url: &str) -> (client::ClientChannels, std::thread::JoinHandle<()>) {
    let (channels, thread) = client::spawn(config, Arc::new(|| {})).expect("spawn");
    channels
        .requests
        .send(ClientRequest::Login {
            url: url.to_owned(),
            agent: "1001".into(),
            password: Secret::new("pw"),
            extension: None,
        })
        .expect("login");
    (channels, thread)
}

#[test]
fn logs_in_over_tls_with_the_centers_ca() {
    let s = setup();
    let config = ClientConfig {
        tls: Some(client::tls_config(Some(&s.ca_file)).expect("tls config")),
        ..ClientConfig::default()
    };
    let (channels, thread) = login(config, &s.url);
    let mut logged_in = false;
    loop {
        match channels.updates.recv_timeout(Duration::from_secs(10)) {
            Ok(ClientUpdate::LoggedIn { profile, .. }) => {
                assert_eq!(profile.agent.as_str(), "1001");
                logged_in = true;
            }
            Ok(ClientUpdate::Connection(ConnState::Connected)) => break,
            Ok(ClientUpdate::Connection(ConnState::Reconnecting { reason, .. })) => {
                panic!("TLS connection failed: {reason}")
            }
            Ok(_) => {}
            Err(e) => panic!("no update: {e}"),
        }
    }
    assert!(logged_in);
    channels
        .requests
        .send(ClientRequest::Shutdown)
        .expect("shutdown");
    thread.join().expect("client thread");
    drop(s.rt);
}

#[test]
fn refuses_a_certificate_it_cannot_verify() {
    let s = setup();
    let config = ClientConfig {
        tls: Some(client::tls_config(None).expect("tls config")),
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(20),
        ..ClientConfig::default()
    };
    let (channels, thread) = login(config, &s.url);
    let mut failures = 0;
    while failures < 3 {
        match channels.updates.recv_timeout(Duration::from_secs(10)) {
            Ok(ClientUpdate::LoggedIn { .. }) => panic!("logged in over an unverified certificate"),
            Ok(ClientUpdate::Connection(ConnState::Reconnecting { reason, .. })) => {
                assert!(reason.contains("cannot connect"), "{reason}");
                failures += 1;
            }
            Ok(_) => {}
            Err(e) => panic!("no update: {e}"),
        }
    }
    channels
        .requests
        .send(ClientRequest::Shutdown)
        .expect("shutdown");
    thread.join().expect("client thread");
}

#[test]
fn a_ca_file_without_certificates_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("empty.pem");
    std::fs::write(&path, "not a certificate\n").expect("write");
    assert!(client::tls_config(Some(&path)).is_err());
    assert!(client::tls_config(Some(&dir.path().join("missing.pem"))).is_err());
}
