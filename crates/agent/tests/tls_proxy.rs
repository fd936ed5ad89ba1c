//! The client subcommands reach an admin API behind a TLS-terminating proxy (as
//! `docs/AGENT.md` recommends for remote access), trusting a private CA given with
//! `--admin-ca-file`, and refuse the proxy's certificate without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::{Agent, free_udp, run, scratch_dir};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::PrivateKeyDer;

/// A TLS-terminating proxy on 127.0.0.1 in front of `backend`, its certificate (for
/// 127.0.0.1) signed by a fresh test CA. Returns its address and the CA's PEM.
async fn tls_proxy(backend: SocketAddr) -> (SocketAddr, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "leviathan-gossip test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();
    let key = PrivateKeyDer::try_from(server_key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![server.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let Ok(mut upstream) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            });
        }
    });
    (address, ca.pem())
}

/// Runs the binary off the runtime's threads: the proxy runs on them meanwhile.
async fn run_cli(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args, &[])
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_reaches_an_agent_behind_a_tls_terminating_proxy_with_a_test_ca() {
    let agent = Agent::spawn("tls-backed", free_udp(), &[]);
    agent.ready().await;
    let (proxy, ca_pem) = tls_proxy(agent.admin).await;
    let dir = scratch_dir("tls-ca");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let admin = format!("https://{proxy}");
    let ca = ca_file.to_str().unwrap().to_string();
    let with_ca = |args: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_string()).collect();
        all.extend([
            "--admin".into(),
            admin.clone(),
            "--admin-ca-file".into(),
            ca.clone(),
        ]);
        all
    };

    let written = run_cli(with_ca(&["set", "greeting", "hello"])).await;
    assert!(written.status.success(), "set: {}", text(&written.stderr));
    let read = run_cli(with_ca(&["get", "tls-backed", "greeting"])).await;
    assert!(read.status.success(), "get: {}", text(&read.stderr));
    assert!(
        text(&read.stdout).contains("hello"),
        "{}",
        text(&read.stdout)
    );
    let members = run_cli(with_ca(&["members"])).await;
    assert!(
        members.status.success(),
        "members: {}",
        text(&members.stderr)
    );
    assert!(text(&members.stdout).contains("tls-backed"));

    // Without the CA the proxy's certificate is not trusted: a clear error, nothing done.
    let refused = run_cli(vec![
        "set".into(),
        "greeting".into(),
        "changed".into(),
        "--admin".into(),
        admin.clone(),
    ])
    .await;
    assert!(!refused.status.success());
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("certificate"), "{stderr}");
    let read = run_cli(with_ca(&["get", "tls-backed", "greeting"])).await;
    assert!(
        text(&read.stdout).contains("hello"),
        "{}",
        text(&read.stdout)
    );
}
