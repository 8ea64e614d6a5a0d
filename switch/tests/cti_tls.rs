//! CTI over TLS: with `[cti] tls_cert` and `tls_key`, a desktop that trusts the certificate logs
//! in over `wss://` (the same server as plain `/cti`: same lock-out, sessions and events), and a
//! client that does not trust it is refused at the handshake.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hotline_cti::{
    AgentId, ClientFrame, Command, Reply, RequestId, Role, Secret, ServerFrame, decode_server,
    encode_client,
};
use hotline_switch::app::{StartOptions, start};
use hotline_switch::config::Config;
use tokio_tungstenite::tungstenite::Message;

fn client_config(trusted: Option<&rcgen::Certificate>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(cert) = trusted {
        roots.add(cert.der().clone()).expect("root");
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

#[tokio::test]
async fn login_over_wss_with_a_trusted_certificate() {
    let dir = tempfile::tempdir().expect("tmp");
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    std::fs::write(dir.path().join("cti.crt"), key.cert.pem()).expect("crt");
    std::fs::write(dir.path().join("cti.key"), key.signing_key.serialize_pem()).expect("key");
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/demo.toml");
    std::fs::copy(demo, dir.path().join("demo.toml")).expect("demo");
    let text = format!(
        "[http]\nlisten = \"127.0.0.1:0\"\n[database]\nurl = \"sqlite://{}/h.db\"\n[log]\nlevel = \"warn\"\n\
         [cti]\ntls_cert = \"cti.crt\"\ntls_key = \"cti.key\"\ntls_listen = \"127.0.0.1:0\"\n",
        dir.path().display()
    );
    let file = dir.path().join("switch.toml");
    std::fs::write(&file, text).expect("config");
    let cfg = Config::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let sw = start(
        cfg,
        StartOptions {
            call_control: false,
        },
    )
    .await
    .expect("starts");
    let port = sw.https.expect("TLS listener").port();
    let url = format!("wss://localhost:{port}/cti");

    // Not trusted: the handshake fails.
    let refused = tokio_tungstenite::connect_async_tls_with_config(
        url.as_str(),
        None,
        false,
        Some(tokio_tungstenite::Connector::Rustls(client_config(None))),
    )
    .await;
    assert!(refused.is_err(), "an untrusted certificate is refused");

    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(20),
        tokio_tungstenite::connect_async_tls_with_config(
            url.as_str(),
            None,
            false,
            Some(tokio_tungstenite::Connector::Rustls(client_config(Some(
                &key.cert,
            )))),
        ),
    )
    .await
    .expect("in time")
    .expect("wss connects");
    let mut replies = Vec::new();
    for (id, cmd) in [
        (
            1,
            Command::Hello {
                versions: vec![1],
                client: "tls-test".into(),
            },
        ),
        (
            2,
            Command::Login {
                agent: AgentId::new("sue"),
                password: Secret::new("sue-demo"),
                extension: None,
            },
        ),
    ] {
        let text = encode_client(&ClientFrame {
            id: RequestId(id),
            cmd,
        })
        .expect("encode");
        ws.send(Message::Text(text.into())).await.expect("send");
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
                .await
                .expect("in time")
                .expect("open")
                .expect("frame");
            if let Message::Text(t) = msg
                && let Ok(ServerFrame::Response(r)) = decode_server(t.as_str())
            {
                assert_eq!(r.re, RequestId(id));
                replies.push(r.result.expect("accepted"));
                break;
            }
        }
    }
    assert!(matches!(replies[0], Reply::Welcome { .. }));
    assert!(matches!(
        replies[1],
        Reply::LoggedIn {
            role: Role::Supervisor,
            ..
        }
    ));
    sw.shutdown().await.expect("clean shutdown");
}
