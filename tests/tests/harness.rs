//! Proves the harness's parts are real and behave as the suites above it assume: engines run
//! containers, restart, die and stay apart; registries round-trip images, enforce TLS and
//! credentials, come back on the same port; the multi-platform index lists both platforms.

use std::time::{Duration, Instant};

use eci_e2e::images::{DOCKER_CLI_PATH, LABEL_PATH};
use eci_e2e::{
    build_image, push_image, shared, Engine, EngineConfig, HarnessError, ImageSpec, Platform,
    Registry, RegistryConfig,
};

fn docker(engine: &Engine, args: &[&str]) -> String {
    engine
        .run_docker(args)
        .unwrap_or_else(|e| panic!("docker {}: {e}", args.join(" ")))
        .trim()
        .to_string()
}

fn docker_fails(engine: &Engine, args: &[&str]) -> String {
    match engine.run_docker(args) {
        Err(HarnessError::Command { stderr, .. }) => stderr,
        other => panic!("docker {} should have failed: {other:?}", args.join(" ")),
    }
}

fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn engine_runs_containers_and_keeps_its_state_across_restart_and_crash() {
    let engine = Engine::start().expect("engine");
    let spec = ImageSpec::new("restart");
    build_image(&engine, &spec, "eci-e2e/local:restart").expect("build");

    let label = docker(
        &engine,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "eci-e2e/local:restart",
            "cat",
            LABEL_PATH,
        ],
    );
    assert_eq!(label, spec.label().trim());

    docker(
        &engine,
        &[
            "run",
            "-d",
            "--name",
            "keeper",
            "--restart",
            "always",
            "--network",
            "none",
            "eci-e2e/local:restart",
            "sleep",
            "3600",
        ],
    );
    engine.restart().expect("restart");
    assert!(engine.ping());
    eventually("the restart=always container to run again", || {
        docker(&engine, &["inspect", "-f", "{{.State.Running}}", "keeper"]) == "true"
    });

    engine.kill();
    assert!(!engine.ping(), "a killed engine must not answer");
    assert!(!engine.is_running());
    engine.start_again().expect("start after kill");
    assert_eq!(
        docker(
            &engine,
            &["image", "inspect", "-f", "{{.Id}}", "eci-e2e/local:restart"]
        )
        .len(),
        "sha256:".len() + 64,
        "the data root must survive a crash"
    );
}

#[test]
fn engines_do_not_share_state_or_fate() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Engine::start().expect("engine a"));
        let b = s.spawn(|| {
            Engine::start_with(EngineConfig {
                daemon_args: vec!["--label=eci-e2e.engine=b".into()],
            })
            .expect("engine b")
        });
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(a.socket_path(), b.socket_path());
    build_image(&a, &ImageSpec::new("only-on-a"), "eci-e2e/only-on-a:1").expect("build");
    docker(
        &a,
        &["create", "--name", "only-on-a", "eci-e2e/only-on-a:1"],
    );

    assert_eq!(
        docker(&b, &["ps", "-aq"]),
        "",
        "b must not see a's container"
    );
    docker_fails(&b, &["image", "inspect", "eci-e2e/only-on-a:1"]);

    a.kill();
    assert!(b.ping(), "b must outlive a");
    assert_eq!(
        docker(&b, &["info", "--format", "{{json .Labels}}"]),
        r#"["eci-e2e.engine=b"]"#,
        "extra daemon flags reach dockerd"
    );
}

#[test]
fn plain_registry_round_trips_an_image_to_another_engine() {
    let fixture = shared();
    let image = fixture.busybox();
    let other = Engine::start().expect("engine");

    docker(&other, &["pull", &image.pinned_reference()]);
    assert_eq!(
        docker(
            &other,
            &[
                "image",
                "inspect",
                "-f",
                "{{.Id}}",
                &image.pinned_reference()
            ]
        ),
        image.config_digest
    );
    let label = docker(
        &other,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            &image.pinned_reference(),
            "cat",
            LABEL_PATH,
        ],
    );
    assert_eq!(label, image.spec.label().trim());
}

#[test]
fn every_registry_variant_starts_with_its_scheme_and_auth() {
    let cases = [
        (RegistryConfig::plain(), "http://", 200),
        (RegistryConfig::tls_with_auth(), "https://", 401),
        (
            RegistryConfig {
                tls: true,
                htpasswd: false,
            },
            "https://",
            200,
        ),
        (
            RegistryConfig {
                tls: false,
                htpasswd: true,
            },
            "http://",
            401,
        ),
    ];
    for (config, scheme, anonymous) in cases {
        let registry = Registry::start(config).unwrap_or_else(|e| panic!("{config:?}: {e}"));
        assert!(registry.url().starts_with(scheme), "{config:?}");
        assert_eq!(registry.ca_pem_path().is_some(), config.tls, "{config:?}");
        assert_eq!(
            registry.credentials().is_some(),
            config.htpasswd,
            "{config:?}"
        );
        assert_eq!(
            registry.anonymous_api_status().expect("GET /v2/"),
            anonymous,
            "{config:?}"
        );
    }
}

#[test]
fn tls_registry_serves_only_through_its_ca_and_requires_credentials() {
    let registry = Registry::start(RegistryConfig::tls_with_auth()).expect("registry");
    let credentials = registry.credentials().expect("credentials").clone();
    assert!(registry.url().starts_with("https://"));
    // The harness's client trusts only the generated CA (rustls, like the product's client):
    // reaching the auth check proves the chain and the server certificate's extensions pass.
    assert_eq!(registry.anonymous_api_status().expect("GET /v2/"), 401);
    let stranger = ureq::get(format!("{}/v2/", registry.url())).call();
    assert!(
        matches!(&stranger, Err(ureq::Error::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData),
        "a client without the CA must refuse the certificate: {stranger:?}"
    );

    let engine = Engine::start().expect("engine");
    let reference = format!("{}/eci-e2e/secure:1", registry.addr());
    build_image(&engine, &ImageSpec::new("secure"), &reference).expect("build");
    // moby treats 127.0.0.0/8 as an insecure registry range and skips certificate checks there,
    // so the engine reaches the auth check even before it is given the CA.
    let anonymous = docker_fails(&engine, &["push", &reference]);
    assert!(
        anonymous.contains("no basic auth credentials"),
        "an anonymous push must be refused for want of credentials: {anonymous}"
    );

    let wrong = engine.login_as(&registry, &credentials.username, "wrong-password");
    assert!(
        matches!(wrong, Err(HarnessError::Command { .. })),
        "{wrong:?}"
    );

    engine.trust_registry(&registry).expect("trust");
    engine.login(&registry).expect("login");
    let pushed = push_image(
        &engine,
        &registry,
        &ImageSpec::new("secure"),
        "eci-e2e/secure",
        "1",
    )
    .expect("push with credentials");
    docker(&engine, &["rmi", &reference]);
    docker(&engine, &["pull", &pushed.pinned_reference()]);

    // The CA sits in the engine's private /etc/docker: bind sources resolve in dockerd's mount
    // namespace, so a container sees what dockerd sees there.
    let certs = format!("/etc/docker/certs.d/{}", registry.addr());
    let seen = docker(
        &engine,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--mount",
            &format!("type=bind,source={certs},target=/certs,readonly"),
            &pushed.pinned_reference(),
            "cat",
            "/certs/ca.crt",
        ],
    );
    assert_eq!(seen, registry.ca_pem().expect("ca").trim());
    assert!(
        !std::path::Path::new(&certs).exists(),
        "the host's /etc/docker must stay untouched"
    );
}

#[test]
fn registry_comes_back_on_the_same_port_with_its_storage() {
    let fixture = shared();
    let registry = Registry::start(RegistryConfig::plain()).expect("registry");
    let pushed = push_image(
        fixture.engine(),
        &registry,
        &ImageSpec::new("persist"),
        "eci-e2e/persist",
        "1",
    )
    .expect("push");
    let addr = registry.addr();

    registry.stop();
    assert!(!registry.is_running());
    assert!(
        matches!(
            registry.manifest("eci-e2e/persist", "1"),
            Err(HarnessError::Http { .. })
        ),
        "a stopped registry must not answer"
    );
    let went_away = docker_fails(fixture.engine(), &["pull", &pushed.pinned_reference()]);
    assert!(went_away.contains("connection refused"), "{went_away}");

    registry.start_again().expect("start again");
    assert_eq!(registry.addr(), addr);
    assert_eq!(
        registry
            .manifest("eci-e2e/persist", &pushed.manifest_digest)
            .expect("manifest after restart")
            .digest,
        pushed.manifest_digest
    );
}

#[test]
fn multi_platform_index_lists_both_platform_manifests() {
    let fixture = shared();
    let index = fixture.multi_platform();
    let registry = fixture.registry();

    let served = registry
        .manifest(&index.repository, &index.tag)
        .expect("index");
    assert_eq!(served.digest, index.digest);
    assert_eq!(served.media_type, "application/vnd.oci.image.index.v1+json");
    let entries = served.json["manifests"].as_array().expect("manifests");
    let platforms = [Platform::linux_amd64(), Platform::linux_arm64()];
    assert_eq!(entries.len(), platforms.len());
    assert_ne!(
        index.images[0].manifest_digest,
        index.images[1].manifest_digest
    );

    for ((entry, image), platform) in entries.iter().zip(&index.images).zip(&platforms) {
        assert_eq!(entry["digest"], image.manifest_digest.as_str());
        assert_eq!(
            entry["platform"]["architecture"],
            platform.architecture.as_str()
        );
        assert_eq!(entry["platform"]["os"], platform.os.as_str());
        let config: serde_json::Value = serde_json::from_slice(
            &registry
                .blob(&index.repository, &image.config_digest)
                .expect("config blob"),
        )
        .expect("config json");
        assert_eq!(config["architecture"], platform.architecture.as_str());
        assert_eq!(config["variant"].as_str(), platform.variant.as_deref());
    }

    let engine = Engine::start().expect("engine");
    docker(
        &engine,
        &[
            "pull",
            "--platform",
            "linux/arm64",
            &index.pinned_reference(),
        ],
    );
    assert_eq!(
        docker(
            &engine,
            &[
                "image",
                "inspect",
                "-f",
                "{{.Id}} {{.Architecture}}",
                &index.pinned_reference()
            ]
        ),
        format!("{} arm64", index.images[1].config_digest)
    );
}

#[test]
fn cli_image_drives_the_engine_from_inside_a_container() {
    let fixture = shared();
    let image = fixture.cli();
    let socket = fixture.engine().socket_path().display().to_string();
    let version = docker(
        fixture.engine(),
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            &format!("{socket}:/var/run/docker.sock"),
            &image.pinned_reference(),
            DOCKER_CLI_PATH,
            "version",
            "--format",
            "{{.Server.Version}}",
        ],
    );
    assert!(version.starts_with("20.10."), "server version {version:?}");
}
