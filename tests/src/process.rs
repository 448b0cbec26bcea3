//! A hub as a real `yui` process, for the tests that kill it (kill -9, SIGTERM).

use crate::backend::Backend;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// The `yui` binary next to this test binary (`cargo build` puts it in target/<profile>/).
pub fn yui_binary() -> PathBuf {
    if let Ok(p) = std::env::var("YUI_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current exe: {e}"));
    // target/<profile>/deps/<test> -> target/<profile>/yui
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("unexpected test binary path {}", exe.display()));
    let bin = dir.join("yui");
    assert!(
        bin.is_file(),
        "{} is missing: build it first (cargo build -p yui-server), or set YUI_BIN",
        bin.display()
    );
    bin
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("free port: {e}"))
}

pub struct HubProcess {
    pub addr: SocketAddr,
    child: Child,
}

impl HubProcess {
    /// Starts `yui serve` on `port` with `data_dir` and waits until it answers.
    pub async fn start(
        backend: &Backend,
        data_dir: &Path,
        port: u16,
        extra: &[&str],
    ) -> HubProcess {
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut cmd = Command::new(yui_binary());
        cmd.arg("serve")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--shutdown-grace")
            .arg("3")
            .args(extra)
            .env("YUI_JWT_SECRET", crate::SECRET)
            .env(
                "RUST_LOG",
                std::env::var("YUI_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .envs(backend.env())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn yui: {e}"));
        let p = HubProcess { addr, child };
        p.wait_ready().await;
        p
    }

    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        for _ in 0..400 {
            if let Ok(r) = client
                .get(format!("http://{}/readyz", self.addr))
                .send()
                .await
            {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("yui process on {} did not become ready", self.addr);
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub fn pid(&self) -> i32 {
        self.child.id().map(|p| p as i32).unwrap_or(0)
    }

    /// SIGKILL: no chance to flush anything.
    pub async fn kill9(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// SIGTERM, then waits for the exit status.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        let _ = kill(Pid::from_raw(self.pid()), Signal::SIGTERM);
        match tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await {
            Ok(Ok(s)) => s,
            other => panic!("yui did not exit after SIGTERM: {other:?}"),
        }
    }
}
