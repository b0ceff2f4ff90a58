//! A private engine leaves the network it starts from alone (issue 13). With `--bridge=none` in
//! the host's network namespace, dockerd deleted the host's `docker0`, and a system engine's
//! containers no longer started. This test runs itself again inside a scratch network namespace
//! made to look like a host with a system engine (`lo` up, a `docker0` bridge with the engine's
//! default address and route), starts a private engine there, makes it pull through the
//! registry forwarding and run a container, restarts and drops it, and asserts that the
//! namespace's interfaces, addresses, routes, firewall rules and forwarding switches are exactly
//! as before. An engine that touched the network of the namespace it starts from fails here,
//! without harming the real host.

use std::process::Command;

use eci_e2e::host::HostState;
use eci_e2e::{shared, Engine};

/// Set in the re-run inside the scratch namespace.
const INSIDE: &str = "ECI_E2E_SCRATCH_NETNS";

fn ip(args: &str) {
    let status = Command::new("ip")
        .args(args.split(' '))
        .status()
        .expect("ip runs");
    assert!(status.success(), "ip {args}");
}

#[test]
fn a_private_engine_leaves_the_network_it_starts_from_alone() {
    if std::env::var_os(INSIDE).is_none() {
        let status = Command::new("unshare")
            .args(["--net", "--"])
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_private_engine_leaves_the_network_it_starts_from_alone",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(INSIDE, "1")
            .status()
            .expect("unshare runs");
        assert!(status.success(), "the run in the scratch namespace failed");
        return;
    }
    ip("link set lo up");
    ip("link add docker0 type bridge");
    // No IPv6 link-local address: its duplicate detection would change the address by itself.
    ip("link set docker0 addrgenmode none");
    ip("addr add 172.17.0.1/16 dev docker0");
    ip("link set docker0 up");
    let before = HostState::network().unwrap();
    assert!(
        before
            .part("interfaces")
            .iter()
            .any(|l| l.contains(" docker0:")),
        "{before:?}"
    );

    let image = shared().busybox().reference();
    let engine = Engine::start().expect("private engine");
    // Through the forwarder into the engine's namespace, from the registry on this loopback.
    engine.run_docker(["pull", "-q", &image]).unwrap();
    engine
        .run_docker(["run", "--rm", "--network", "none", &image, "true"])
        .unwrap();
    engine.restart().unwrap();
    engine.run_docker(["info"]).unwrap();
    drop(engine);

    let changes = HostState::network().unwrap().changes_since(&before);
    assert!(
        changes.is_empty(),
        "a private engine changed the network it started from:\n{}",
        changes.join("\n")
    );
}
