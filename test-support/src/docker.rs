//! The real Docker daemon for tests: connecting (with instructions when it is missing), the
//! busybox test image, unique names, and a guard that removes everything a test created.
//!
//! Every object a test creates carries `dev.windlass.test-run=<run id>` (and containers the
//! engine label `dev.windlass.engine=<run id>`), so the guard finds and removes exactly that
//! test's containers, networks and volumes — also when the test fails or panics. A missing
//! daemon or image fails the test with what to run; it never skips.

// Each test binary uses a different subset of these helpers.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use windlass::labels::LABEL_ENGINE;
use windlass::{
    ContainerInfo, ContainerSpec, ContainerStatus, DockerRuntime, NetworkSpec, VolumeSpec,
};

/// The image every runtime test uses (busybox: sh, sleep, httpd, wget, nc, nslookup).
pub const BUSYBOX: &str = "windlass-test/busybox:1";

/// The label that scopes cleanup to one test run.
pub const TEST_RUN_LABEL: &str = "dev.windlass.test-run";

/// Connects to the daemon (`DOCKER_HOST` or the default socket), failing with instructions.
pub async fn connect() -> anyhow::Result<DockerRuntime> {
    DockerRuntime::connect_default().await.with_context(|| {
        "Docker is required by the runtime tests and is not reachable: run \
         `bash scripts/setup-docker.sh` (as root) to install and start it"
    })
}

/// Connects and checks that the busybox test image exists.
/// The images of the demo stack (PostgreSQL, its api, its web page).
pub const DEMO_IMAGES: [&str; 3] = [
    "local/postgres:15",
    "local/windlass-demo-api:1",
    "local/windlass-demo-web:1",
];

/// Connects and checks that the demo stack's images are built.
pub async fn connect_with_demo_images() -> anyhow::Result<DockerRuntime> {
    let runtime = connect().await?;
    for image in DEMO_IMAGES {
        if !runtime.image_exists(image).await? {
            bail!(
                "{image} is missing: run `bash scripts/build-test-images.sh postgres demo-api demo-web`"
            );
        }
    }
    Ok(runtime)
}

pub async fn connect_with_busybox() -> anyhow::Result<DockerRuntime> {
    let runtime = connect().await?;
    if !runtime.image_exists(BUSYBOX).await? {
        bail!(
            "the test image {BUSYBOX} is missing: build it with `bash scripts/build-test-images.sh \
             busybox` (no registry is used; the image is built locally)"
        );
    }
    Ok(runtime)
}

/// Removes every image labelled as built by engine `engine_id` (`dev.windlass.engine`), as a
/// build test's cleanup; a failure is left for the next run's sweep.
pub async fn remove_images_of_engine(engine_id: &str) {
    let Ok(output) = tokio::process::Command::new("docker")
        .args([
            "images",
            "-q",
            "--filter",
            &format!("label=dev.windlass.engine={engine_id}"),
        ])
        .output()
        .await
    else {
        return;
    };
    let ids: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if !ids.is_empty() {
        let _ = tokio::process::Command::new("docker")
            .args(["rmi", "-f"])
            .args(&ids)
            .output()
            .await;
    }
}

/// A random lowercase hex suffix.
pub fn suffix() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// One test's namespace on the Docker host; removes what it labelled when dropped.
#[derive(Debug)]
pub struct TestScope {
    /// The run id: the test-run label value and the engine id of its containers.
    pub run: String,
}

impl TestScope {
    /// A fresh scope for the test called `test`.
    pub fn new(test: &str) -> Self {
        TestScope {
            run: format!("wl-{}-{}", test.replace('_', "-"), suffix()),
        }
    }

    /// A unique object name within this scope.
    pub fn name(&self, what: &str) -> String {
        format!("{}-{what}", self.run)
    }

    /// A busybox container spec named `what`, labelled for this scope.
    pub fn spec<I, S>(&self, what: &str, command: I) -> ContainerSpec
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ContainerSpec::new(self.name(what), BUSYBOX)
            .with_command(command)
            .with_label(TEST_RUN_LABEL, &self.run)
            .with_label(LABEL_ENGINE, &self.run)
    }

    /// A network spec named `what`, labelled for this scope.
    pub fn network(&self, what: &str) -> NetworkSpec {
        NetworkSpec::new(self.name(what)).with_label(TEST_RUN_LABEL, &self.run)
    }

    /// A volume spec named `what`, labelled for this scope.
    pub fn volume(&self, what: &str) -> VolumeSpec {
        VolumeSpec::new(self.name(what)).with_label(TEST_RUN_LABEL, &self.run)
    }

    /// The label filter matching everything in this scope.
    pub fn filter(&self) -> [(&str, &str); 1] {
        [(TEST_RUN_LABEL, self.run.as_str())]
    }

    /// Removes this scope's containers, then networks, then volumes.
    pub async fn cleanup(run: &str) -> anyhow::Result<()> {
        cleanup_labelled(TEST_RUN_LABEL, run).await
    }
}

fn ignore_not_found(e: windlass::RuntimeError) -> anyhow::Result<()> {
    if e.is_not_found() {
        Ok(())
    } else {
        Err(e.into())
    }
}

impl Drop for TestScope {
    fn drop(&mut self) {
        // Drop cannot await, and the test's own runtime may be shutting down: clean up on a
        // separate thread with its own runtime and connection.
        let run = self.run.clone();
        let outcome = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(TestScope::cleanup(&run))
        })
        .join();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("cleanup of test run {} failed: {e:#}", self.run),
            Err(_) => eprintln!("cleanup of test run {} panicked", self.run),
        }
    }
}

/// Polls `inspect` until `done` holds, at most `timeout`.
pub async fn wait_for(
    runtime: &DockerRuntime,
    container: &str,
    timeout: Duration,
    done: impl Fn(&ContainerInfo) -> bool,
) -> anyhow::Result<ContainerInfo> {
    let deadline = Instant::now() + timeout;
    loop {
        let info = runtime.inspect_container(container).await?;
        if done(&info) {
            return Ok(info);
        }
        if Instant::now() >= deadline {
            bail!(
                "container {container} did not reach the expected state within {timeout:?}: {info:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the container has exited and returns its info.
pub async fn wait_exited(
    runtime: &DockerRuntime,
    container: &str,
) -> anyhow::Result<ContainerInfo> {
    wait_for(runtime, container, Duration::from_secs(30), |i| {
        i.status == ContainerStatus::Exited
    })
    .await
}

/// `GET path` over HTTP/1.0 from `127.0.0.1:port`, retried until the server answers or
/// `timeout` passes; returns the whole response.
pub async fn http_get(port: u16, path: &str, timeout: Duration) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let deadline = Instant::now() + timeout;
    loop {
        let attempt = async {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            stream
                .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
                .await?;
            let mut response = String::new();
            stream.read_to_string(&mut response).await?;
            anyhow::Ok(response)
        };
        match tokio::time::timeout(Duration::from_secs(5), attempt).await {
            Ok(Ok(response)) if response.starts_with("HTTP/") => return Ok(response),
            Ok(Ok(other)) if Instant::now() >= deadline => {
                bail!("not an HTTP answer from port {port}: {other:?}")
            }
            Ok(Err(e)) if Instant::now() >= deadline => {
                return Err(e.context(format!("GET 127.0.0.1:{port}{path}")));
            }
            Err(_) if Instant::now() >= deadline => bail!("GET 127.0.0.1:{port}{path} timed out"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Removes every container, network and volume labelled `key=value`.
pub async fn cleanup_labelled(key: &str, value: &str) -> anyhow::Result<()> {
    let runtime = connect().await?;
    let filter = [(key, value)];
    for c in runtime.list_containers(&filter).await? {
        runtime
            .remove_container(&c.id, true)
            .await
            .or_else(ignore_not_found)?;
    }
    for n in runtime.list_networks(&filter).await? {
        runtime
            .remove_network(&n.id)
            .await
            .or_else(ignore_not_found)?;
    }
    for v in runtime.list_volumes(&filter).await? {
        runtime
            .remove_volume(&v.name, true)
            .await
            .or_else(ignore_not_found)?;
    }
    Ok(())
}
