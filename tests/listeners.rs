//! Where the exporter listens, as exporter-toolkit's flags have it: `--web.listen-address`
//! repeated listens on each address, and `--web.systemd-socket` serves on the sockets systemd
//! passes (socket activation) instead.

mod common;

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Exporter;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_listen_address_serves_on_every_address() {
    let second = common::free_port();
    let exporter = Exporter::spawn(
        &[
            "--demo".to_string(),
            format!("--web.listen-address=127.0.0.1:{second}"),
        ],
        &[],
    );
    common::wait_for_200(&exporter, || {
        reqwest::Client::new().get(format!("{}/-/healthy", exporter.base))
    })
    .await;
    let other = reqwest::get(format!("http://127.0.0.1:{second}/-/healthy"))
        .await
        .expect("the second address answers");
    assert_eq!(other.status(), 200);
    assert!(exporter.logs().contains(&format!("127.0.0.1:{second}")));
}

/// A socket systemd would pass: bound and listening in a parent (Python here), handed over as
/// descriptor 3 with LISTEN_FDS=1 and LISTEN_PID set to the exporter's own process (the parent
/// `exec`s it, so the pid is the same). Prints the port before the exec.
const ACTIVATE: &str = r#"
import os, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[1], sys.argv[1:])
"#;

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_systemd_socket_is_served_instead_of_a_listen_address() {
    let Some(python) = common::tool("python3", "REQUIRE_PYTHON3") else {
        return;
    };
    let log = std::env::temp_dir().join(format!("systemd-socket-{}.log", std::process::id()));
    let mut child = Command::new(python)
        .args(["-c", ACTIVATE])
        .arg(env!("CARGO_BIN_EXE_tencentcloud-ssl-exporter"))
        .args(["--demo", "--web.systemd-socket"])
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("python3 runs");
    let mut port = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut port)
        .expect("the port");
    let url = format!("http://127.0.0.1:{}/-/healthy", port.trim());
    let mut healthy = false;
    for _ in 0..200 {
        if reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&log);
    assert!(healthy, "the activated socket never answered:\n{logs}");
    assert!(
        logs.contains("listening on systemd activated listeners"),
        "{logs}"
    );
    // The default :9877 was not bound: the activated socket replaces the listen addresses.
    assert!(!logs.contains("0.0.0.0:9877"), "{logs}");
}

#[cfg(target_os = "linux")]
#[test]
fn without_activated_sockets_the_systemd_flag_is_a_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_tencentcloud-ssl-exporter"))
        .args(["--demo", "--web.systemd-socket"])
        .env_clear()
        .output()
        .expect("the exporter runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no socket activation file descriptors found"),
        "{stderr}"
    );
}
