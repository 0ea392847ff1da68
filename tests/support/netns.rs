//! [`Link`]: a private network namespace joined to this one by a veth pair, so that a target
//! server can sit behind a real (kernel) network path whose packets a test drops at will.
//!
//! The target's mariadbd runs inside the namespace (`ip netns exec`) on the namespace's end of
//! the pair; replaygate and the clients stay here and reach it over the veth. Faults are
//! nftables rules inside the namespace, so they touch only that path: random loss
//! (`numgen random`), a partition (every packet dropped, nothing closed), healed by flushing.
//! Only the namespace's own addresses (10.64.0.0/10, one /30 per link) are ever addressed.
//!
//! This kernel has no `sch_netem` (`CONFIG_NET_SCH_NETEM` is not set), so delay is not
//! injected here; loss and partitions are the kernel's own packet drops, which TCP sees as on
//! any real network (retransmits, timeouts).
//!
//! Namespaces are named `rgnetK`; creating the name is how a test process claims index K (the
//! kernel refuses a name that exists), so parallel tests and test binaries never share one.
//! Dropping the link deletes the namespace and with it the veth pair.

use std::process::Command;

/// A namespace, its veth pair and the nftables table that injects faults in it.
pub struct Link {
    name: String,
    /// This side's end of the veth pair.
    outer: String,
    host_addr: String,
    ns_addr: String,
}

/// Runs a command that must succeed (`ip`, `nft`), panicking with its stderr.
#[track_caller]
fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Link {
    /// Creates a namespace with a veth pair to this one, both ends up, and an empty nftables
    /// table `rg` in the namespace with input and output chains.
    pub fn new() -> Link {
        let index = (0..16_384u32)
            .find(|k| {
                let out = Command::new("ip")
                    .args(["netns", "add", &format!("rgnet{k}")])
                    .output()
                    .expect("run ip (iproute2)");
                let taken = String::from_utf8_lossy(&out.stderr).contains("File exists");
                assert!(
                    out.status.success() || taken,
                    "ip netns add: {} (the network-fault tests need root, iproute2 and nftables)",
                    String::from_utf8_lossy(&out.stderr)
                );
                out.status.success()
            })
            .expect("no free rgnetK name");
        let name = format!("rgnet{index}");
        // 10.64.0.0/10 holds 2^20 /30s; this link takes the index-th.
        let base = (10u32 << 24) | (64 << 16) | (index << 2);
        let addr = |host: u32| {
            let a = base + host;
            format!(
                "{}.{}.{}.{}",
                a >> 24,
                (a >> 16) & 255,
                (a >> 8) & 255,
                a & 255
            )
        };
        let (outer, inner) = (format!("rgv{index}a"), format!("rgv{index}b"));
        let link = Link {
            host_addr: addr(1),
            ns_addr: addr(2),
            name,
            outer: outer.clone(),
        };
        // A pair left by a test process that died before dropping its link.
        let _ = Command::new("ip")
            .args(["link", "del", &outer])
            .stderr(std::process::Stdio::null())
            .status();
        run(
            "ip",
            &[
                "link", "add", &outer, "type", "veth", "peer", "name", &inner,
            ],
        );
        run("ip", &["link", "set", &inner, "netns", &link.name]);
        run(
            "ip",
            &[
                "addr",
                "add",
                &format!("{}/30", link.host_addr),
                "dev",
                &outer,
            ],
        );
        run("ip", &["link", "set", &outer, "up"]);
        link.exec(
            "ip",
            &[
                "addr",
                "add",
                &format!("{}/30", link.ns_addr),
                "dev",
                &inner,
            ],
        );
        link.exec("ip", &["link", "set", &inner, "up"]);
        link.exec("ip", &["link", "set", "lo", "up"]);
        link.exec("nft", &["add", "table", "inet", "rg"]);
        for (chain, hook) in [("in", "input"), ("out", "output")] {
            link.exec(
                "nft",
                &[
                    "add",
                    "chain",
                    "inet",
                    "rg",
                    chain,
                    &format!("{{ type filter hook {hook} priority 0; }}"),
                ],
            );
        }
        link
    }

    /// The namespace's name, for `ip netns exec`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address of the namespace's end, where servers inside listen.
    pub fn ns_addr(&self) -> &str {
        &self.ns_addr
    }

    /// Runs a command inside the namespace, which must succeed.
    #[track_caller]
    pub fn exec(&self, program: &str, args: &[&str]) {
        let mut all = vec!["netns", "exec", self.name.as_str(), program];
        all.extend_from_slice(args);
        run("ip", &all);
    }

    /// Drops `percent` of the packets in each direction, at random.
    pub fn lose(&self, percent: u32) {
        for chain in ["in", "out"] {
            self.exec(
                "nft",
                &[
                    "add",
                    "rule",
                    "inet",
                    "rg",
                    chain,
                    "meta",
                    "l4proto",
                    "tcp",
                    "numgen",
                    "random",
                    "mod",
                    "100",
                    "<",
                    &percent.to_string(),
                    "drop",
                ],
            );
        }
    }

    /// Drops every packet in both directions: a partition. Nothing is closed or refused; each
    /// side finds out only by its own timeouts.
    pub fn partition(&self) {
        for chain in ["in", "out"] {
            self.exec("nft", &["add", "rule", "inet", "rg", chain, "drop"]);
        }
    }

    /// TCP segments the namespace's side has retransmitted so far (its own `RetransSegs`).
    pub fn tcp_retransmits(&self) -> u64 {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "cat", "/proc/net/snmp"])
            .output()
            .expect("read the namespace's /proc/net/snmp");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
        let (names, values) = (tcp.next().unwrap_or(""), tcp.next().unwrap_or(""));
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(name, _)| *name == "RetransSegs")
            .and_then(|(_, value)| value.parse().ok())
            .expect("RetransSegs in /proc/net/snmp")
    }

    /// Removes every fault.
    pub fn heal(&self) {
        for chain in ["in", "out"] {
            self.exec("nft", &["flush", "chain", "inet", "rg", chain]);
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // The pair first: a namespace's devices go only when the kernel gets round to it,
        // after the name is free for the next link to claim.
        let _ = Command::new("ip")
            .args(["link", "del", &self.outer])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
