//! The image alone and the local demo's services: the environments pass `check-config`, the
//! published ports are the ones served, the store lives in the declared volume, and the health
//! probes get a 2xx from what they probe.

use super::*;

#[test]
fn the_compose_bridge_environment_passes_check_config() {
    let instructions = dockerfile();
    let compose = compose();
    let env = with_repo_config(&instructions, compose_bridge_env(&instructions, &compose));

    let checked = run(BRIDGE, &strings(&["check-config"]), &env);

    assert!(checked.status.success(), "{env:#?}\n{}", checked.all());
    let out = &checked.stdout;
    assert!(out.starts_with("configuration OK (profile local)"), "{out}");
    // On every interface of its container (the published port reaches it), talking to the
    // simulator's container on the port that one serves, not to an in-process simulator.
    assert!(
        out.contains(&format!("server      0.0.0.0:{BRIDGE_PORT} ")),
        "{out}"
    );
    let sim = format!("http://genesys-sim:{}", sim_port(&compose));
    assert!(
        out.contains(&format!("genesys     api {sim} · login {sim}\n")),
        "{out}"
    );
    assert!(
        out.contains("queue       store sqlite /var/lib/genesys-bridge/bridge.db "),
        "{out}"
    );
}

#[test]
fn the_published_ports_are_the_ones_served() {
    let instructions = dockerfile();
    let compose = compose();
    assert_eq!(only(&instructions, "EXPOSE").args, BRIDGE_PORT.to_string());
    let published = |name: &str| string_list(&service(&compose, name)["ports"], "ports");
    // On the host's loopback only: the demo's secrets and admin token are public.
    assert_eq!(
        published("bridge"),
        [format!("127.0.0.1:{BRIDGE_PORT}:{BRIDGE_PORT}")]
    );
    let sim = sim_port(&compose);
    assert_eq!(published("genesys-sim"), [format!("127.0.0.1:{sim}:{sim}")]);
}

#[test]
fn the_image_alone_runs_the_production_profile_and_asks_for_credentials() {
    let instructions = dockerfile();
    let env = with_repo_config(&instructions, image_env(&instructions));
    assert_eq!(
        env.get("BRIDGE_ENV").map(String::as_str),
        Some("production")
    );

    let checked = run(BRIDGE, &strings(&["check-config"]), &env);

    assert_eq!(checked.status.code(), Some(1), "{}", checked.all());
    assert!(
        checked.stdout.contains("genesys.client_id: is required"),
        "{}",
        checked.all()
    );
}

#[test]
fn the_store_lives_in_the_declared_volume() {
    let instructions = dockerfile();
    let compose = compose();
    let data_dir = compose_bridge_env(&instructions, &compose)
        .remove("BRIDGE__QUEUE__DATA_DIR")
        .expect("the store's directory is set");
    let volumes = exec_form(&only(&instructions, "VOLUME").args, "VOLUME");
    assert_eq!(
        volumes,
        vec![data_dir.clone()],
        "the image's VOLUME is the store"
    );

    let mounts = string_list(&service(&compose, "bridge")["volumes"], "bridge volumes");
    let mount = mounts
        .iter()
        .find_map(|m| m.strip_suffix(&format!(":{data_dir}")))
        .unwrap_or_else(|| panic!("bridge mounts nothing at {data_dir}: {mounts:?}"));
    assert!(
        compose["volumes"]
            .as_object()
            .is_some_and(|v| v.contains_key(mount)),
        "{mount} is not a named volume of docker-compose.yml"
    );
    // The image's user owns the directory the volume starts from.
    let user = only(&instructions, "USER").args.clone();
    assert!(
        runtime_stage(&instructions)
            .filter(|i| i.keyword == "COPY")
            .map(copy_parts)
            .any(
                |(flags, _, destination)| flags.contains(&format!("--chown={user}").as_str())
                    && data_dir.starts_with(destination.trim_end_matches('/'))
            ),
        "no COPY --chown={user} creates {data_dir}"
    );
}

#[tokio::test]
async fn the_health_probes_get_2xx_from_what_they_probe() {
    let instructions = dockerfile();
    let compose = compose();
    let (_, image_probe) = image_commands(&instructions);
    let bridge_probe = service_probe(service(&compose, "bridge"), "bridge");
    let sim_probe = service_probe(service(&compose, "genesys-sim"), "genesys-sim");
    let app = spawn_app("").await;
    let sim = spawn_sim(sim_config()).await;

    let probes = [
        ("Dockerfile", image_probe, BRIDGE_PORT, &app.address),
        ("bridge", bridge_probe, BRIDGE_PORT, &app.address),
        ("genesys-sim", sim_probe, sim_port(&compose), &sim.base_url),
    ];
    for (origin, probe, port, here) in probes {
        let (probed_port, path) = port_and_path(&probe_url(&probe));
        assert_eq!(
            probed_port, port,
            "{origin}: the probe asks another port than the server's"
        );

        // The same path, on the server this test runs.
        let args = strings(&["healthcheck", "--url", &format!("{here}{path}")]);
        let answered = run_beside(BRIDGE, args).await;

        assert!(
            answered.status.success(),
            "{origin}: {path} is not 2xx: {}",
            answered.all()
        );
    }
    sim.shutdown().await;
}
