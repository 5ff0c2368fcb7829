//! The compose group as a drill target: the containers of a docker-compose project started from
//! `deploy/compose/docker-compose.yml`, faulted with the Docker CLI.
//!
//! | drill step | Docker |
//! |---|---|
//! | kill | `docker kill` (SIGKILL to the process) |
//! | stop / cont | `docker pause` / `docker unpause` (the cgroup freezer: SIGSTOP's effect) |
//! | start | `docker start` |
//! | partition all | `docker network disconnect` (the container loses its interface) |
//! | heal | `docker network connect --ip <its address>` |
//!
//! A partition from the sentinels only and slow links need packet filtering or traffic control
//! inside the network, which a `FROM scratch` image does not have: those scenarios run in the
//! local group only.

use anyhow::{Context as _, bail};

use crate::control::Listed;

/// One container of the project.
#[derive(Debug, Clone)]
struct Container {
    id: String,
    service: String,
    ip: String,
    running: bool,
}

/// A docker-compose project.
pub struct Compose {
    project: String,
    network: String,
    containers: Vec<Container>,
}

fn docker(args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new("docker").args(args).output().context("cannot run docker")?;
    if !out.status.success() {
        bail!("docker {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Compose {
    /// The containers of `project` (its network is the one they share).
    pub fn open(project: &str) -> anyhow::Result<Compose> {
        let filter = format!("label=com.docker.compose.project={project}");
        let ids = docker(&["ps", "-aq", "--filter", &filter])?;
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if ids.is_empty() {
            bail!("no containers of compose project '{project}': start it with docker-compose -p {project} up -d");
        }
        let format = "{{.Id}} {{index .Config.Labels \"com.docker.compose.service\"}} {{.State.Running}} \
                      {{range $n, $e := .NetworkSettings.Networks}}{{$n}}={{$e.IPAddress}} {{end}}";
        let mut args = vec!["inspect", "-f", format];
        args.extend(ids);
        let mut containers = Vec::new();
        let mut network = String::new();
        for line in docker(&args)?.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            let [id, service, running, nets @ ..] = w.as_slice() else { continue };
            let (net, ip) = nets.first().and_then(|n| n.split_once('=')).unwrap_or(("", ""));
            if !net.is_empty() {
                network = net.to_string();
            }
            containers.push(Container {
                id: id.to_string(),
                service: service.to_string(),
                ip: ip.to_string(),
                running: *running == "true",
            });
        }
        if network.is_empty() {
            bail!("the containers of '{project}' are on no network");
        }
        Ok(Compose { project: project.to_string(), network, containers })
    }

    fn find(&self, name: &str) -> anyhow::Result<&Container> {
        self.containers
            .iter()
            .find(|c| c.service == name)
            .with_context(|| format!("no service {name} in compose project {}", self.project))
    }

    /// The services with their addresses (sentinels on 26379, data nodes on 6379, as in the
    /// compose file).
    pub fn list(&self) -> Vec<Listed> {
        self.containers
            .iter()
            .map(|c| {
                let port = if crate::local::is_sentinel(&c.service) { 26379 } else { 6379 };
                Listed { name: c.service.clone(), addr: format!("{}:{port}", c.ip), pid: u32::from(c.running) }
            })
            .collect()
    }

    /// Runs a control command (see [`crate::control`]) with the Docker CLI.
    pub fn run(&self, cmd: &str) -> anyhow::Result<()> {
        let w: Vec<&str> = cmd.split_whitespace().collect();
        let [verb, name, rest @ ..] = w.as_slice() else { bail!("expected: COMMAND NAME [ARG]") };
        let c = self.find(name)?;
        match (*verb, rest) {
            ("kill", []) => docker(&["kill", &c.id])?,
            ("stop", []) => docker(&["pause", &c.id])?,
            ("cont", []) => docker(&["unpause", &c.id])?,
            ("start", []) => docker(&["start", &c.id])?,
            ("partition", ["all"]) => docker(&["network", "disconnect", "-f", &self.network, &c.id])?,
            ("heal", []) => docker(&["network", "connect", "--ip", &c.ip, &self.network, &c.id])?,
            _ => bail!("{cmd}: not available against containers (scratch images have no tc or iptables)"),
        };
        Ok(())
    }
}
