//! `deploy/compose.yml` stays what the README says it is: PostgreSQL with a volume and a
//! health check, and at least two `serve` replicas built from `deploy/Dockerfile`, each on that
//! PostgreSQL, started once it is healthy, with its own data volume and host port. Docker
//! cannot run here, so this reads the file as YAML.

use std::collections::HashSet;
use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

fn compose() -> Yaml {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/compose.yml");
    let text = std::fs::read_to_string(&path).expect("deploy/compose.yml");
    YamlLoader::load_from_str(&text)
        .expect("compose.yml is YAML")
        .into_iter()
        .next()
        .expect("one document")
}

/// `service[key]`, or the key from the mapping merged in with `<<` (what Compose does).
fn field<'a>(service: &'a Yaml, key: &str) -> &'a Yaml {
    let own = &service[key];
    if own.is_badvalue() {
        &service["<<"][key]
    } else {
        own
    }
}

fn strings(list: &Yaml) -> Vec<&str> {
    list.as_vec()
        .map(|items| items.iter().filter_map(Yaml::as_str).collect())
        .unwrap_or_default()
}

/// The services built from deploy/Dockerfile, by name.
fn replicas(doc: &Yaml) -> Vec<(&str, &Yaml)> {
    doc["services"]
        .as_hash()
        .expect("services")
        .iter()
        .filter(|(_, service)| {
            field(service, "build")["dockerfile"].as_str() == Some("deploy/Dockerfile")
        })
        .map(|(name, service)| (name.as_str().expect("service name"), service))
        .collect()
}

#[test]
fn postgres_has_a_volume_and_a_health_check() {
    let doc = compose();
    let postgres = &doc["services"]["postgres"];
    let image = postgres["image"].as_str().expect("postgres image");
    assert!(image.starts_with("postgres:"), "official image: {image}");
    let test = strings(&postgres["healthcheck"]["test"]);
    assert!(test.contains(&"pg_isready"), "health check: {test:?}");
    let volumes = strings(&postgres["volumes"]);
    assert!(
        volumes
            .iter()
            .any(|v| v.ends_with(":/var/lib/postgresql/data")),
        "data in a volume: {volumes:?}"
    );
    assert!(
        !postgres["environment"]["POSTGRES_PASSWORD"].is_badvalue(),
        "a password is set"
    );
}

#[test]
fn at_least_two_serve_replicas_share_that_postgres() {
    let doc = compose();
    let replicas = replicas(&doc);
    assert!(
        replicas.len() >= 2,
        "replicas: {:?}",
        replicas.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    let dockerfile = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/Dockerfile");
    assert!(dockerfile.is_file(), "the replicas' Dockerfile exists");
    let mut data_volumes = HashSet::new();
    let mut host_ports = HashSet::new();
    for (name, service) in replicas {
        assert_eq!(
            field(service, "build")["context"].as_str(),
            Some(".."),
            "{name}: built from the repository"
        );
        let url = field(service, "environment")["DATABASE_URL"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: DATABASE_URL"));
        assert!(
            url.starts_with("postgres://") && url.contains("@postgres:5432/"),
            "{name}: DATABASE_URL names the postgres service: {url}"
        );
        assert_eq!(
            field(service, "depends_on")["postgres"]["condition"].as_str(),
            Some("service_healthy"),
            "{name}: starts once PostgreSQL is healthy"
        );
        assert!(
            !field(service, "env_file").is_badvalue(),
            "{name}: secrets from an env file"
        );
        let command = field(service, "command");
        assert!(
            command.is_badvalue() || strings(command) == ["bennettbot", "serve"],
            "{name}: runs the image's `bennettbot serve`"
        );
        let volumes = strings(field(service, "volumes"));
        let data = volumes
            .iter()
            .find_map(|v| v.strip_suffix(":/data"))
            .unwrap_or_else(|| panic!("{name}: a volume at /data"));
        assert!(
            data_volumes.insert(data.to_owned()),
            "{name}: its own data volume"
        );
        for port in strings(field(service, "ports")) {
            let host = port.rsplit_once(':').map_or(port, |(host, _)| host);
            assert!(
                host_ports.insert(host.to_owned()),
                "{name}: its own host port"
            );
        }
    }
}
