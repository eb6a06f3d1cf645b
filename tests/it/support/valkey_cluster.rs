//! A Valkey Cluster of the test's own: `n` primaries on free loopback ports.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use super::process::{POLL, find_program, free_port, run};
use super::valkey::ValkeyGuard;

const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// `n` `valkey-server` in cluster mode (each with its own `nodes.conf` in
/// its own directory and a free cluster bus port), joined by `valkey-cli
/// --cluster create` without replicas; every node is stopped on drop.
#[derive(Debug)]
pub struct ValkeyClusterGuard {
    nodes: Vec<ValkeyGuard>,
}

impl ValkeyClusterGuard {
    /// Starts `n` nodes and waits until every one reports `cluster_state:ok`.
    pub fn start(n: usize) -> ValkeyClusterGuard {
        let nodes: Vec<ValkeyGuard> = (0..n)
            .map(|_| {
                ValkeyGuard::start_with_args(&[
                    "--cluster-enabled".to_owned(),
                    "yes".to_owned(),
                    "--cluster-config-file".to_owned(),
                    "nodes.conf".to_owned(),
                    "--cluster-port".to_owned(),
                    free_port().to_string(),
                ])
            })
            .collect();
        let mut create = Command::new(find_program("valkey-cli", &[]));
        create.arg("--cluster").arg("create");
        for node in &nodes {
            create.arg(format!("127.0.0.1:{}", node.port()));
        }
        create.args(["--cluster-replicas", "0", "--cluster-yes"]);
        run(&mut create);
        let guard = ValkeyClusterGuard { nodes };
        guard.wait_ok();
        guard
    }

    fn wait_ok(&self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        for node in &self.nodes {
            loop {
                let info = node.command(&["CLUSTER", "INFO"]).unwrap_or_default();
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "cluster node {} not ok after {READY_TIMEOUT:?}:\n{info}",
                    node.port()
                );
                thread::sleep(POLL);
            }
        }
    }

    /// The nodes, in creation order.
    pub fn nodes(&self) -> &[ValkeyGuard] {
        &self.nodes
    }

    /// The port of the first node, a seed for clients.
    pub fn seed_port(&self) -> u16 {
        self.nodes[0].port()
    }
}
