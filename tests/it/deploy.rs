//! What users deploy, checked against the real tools (hadolint,
//! kubernetes-validate) and against the code (ports, flags, rules).

use std::path::Path;
use std::process::Command;

use chime_exporter::config::{Cli, DEFAULT_PORT};
use serde_json::Value as Json;
use serde_norway::Value as Yaml;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Yaml {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Flags as a deployment passes them must be accepted by the exporter.
fn assert_flags_valid(args: &[String], what: &str) {
    let mut argv = vec!["chime_exporter".to_owned()];
    argv.extend(args.iter().cloned());
    let (cli, explicit) = Cli::parse_args(&argv).unwrap_or_else(|e| panic!("{what}: {e}"));
    cli.into_config_with(&explicit)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}

#[test]
fn dockerfile_matches_the_crate() {
    let dockerfile = read("Dockerfile");
    let cargo = read("Cargo.toml");
    let rust_version = cargo
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"'))
        .expect("rust-version in Cargo.toml");
    assert!(
        dockerfile.contains(&format!("FROM rust:{rust_version}-")),
        "builder image must be rust:{rust_version}"
    );
    assert!(dockerfile.contains(&format!("EXPOSE {DEFAULT_PORT}")));
    assert!(dockerfile.contains("--locked"));
    assert!(dockerfile.contains("USER 65532"));
    assert!(read(".dockerignore").lines().any(|l| l.trim() == "target"));
}

#[test]
#[ignore = "needs hadolint"]
fn dockerfile_passes_hadolint() {
    let hadolint = crate::helpers::tool("hadolint");
    let out = Command::new(hadolint)
        .arg(Path::new(ROOT).join("Dockerfile"))
        .output()
        .unwrap();
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && report.trim().is_empty(),
        "hadolint:\n{report}"
    );
}

/// The systemd units: hardened, socket-activated, and valid to systemd's
/// own checker (every key known, the binary found).
#[test]
#[ignore = "needs systemd-analyze"]
fn systemd_units_are_hardened_and_verify() {
    let analyze = crate::helpers::tool("systemd-analyze");
    let service = read("deploy/systemd/chime_exporter.service");
    let socket = read("deploy/systemd/chime_exporter.socket");
    for directive in [
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "Restart=on-failure",
        "RestartPreventExitStatus=2",
        "CapabilityBoundingSet=\n",
        "--web.systemd-socket",
    ] {
        assert!(service.contains(directive), "service lacks {directive}");
    }
    assert!(socket.contains("ListenStream=9891") && socket.contains("BindIPv6Only=both"));
    let dir = crate::helpers::TempDir::new("systemd");
    std::fs::write(
        dir.0.join("chime_exporter.service"),
        service.replace(
            "/usr/local/bin/chime_exporter",
            env!("CARGO_BIN_EXE_chime_exporter"),
        ),
    )
    .unwrap();
    std::fs::write(dir.0.join("chime_exporter.socket"), socket).unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg(dir.0.join("chime_exporter.socket"))
        .arg(dir.0.join("chime_exporter.service"))
        .output()
        .unwrap();
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // Unknown keys are only warnings to systemd: any word fails the test.
    let about_ours: Vec<&str> = report
        .lines()
        .filter(|l| l.contains("chime_exporter"))
        .collect();
    assert!(
        out.status.success() && about_ours.is_empty(),
        "systemd-analyze verify:\n{report}"
    );
}

#[test]
#[ignore = "needs kubernetes-validate"]
fn kubernetes_manifests_validate_against_the_schemas() {
    let validate = crate::helpers::tool("kubernetes-validate");
    let files = [
        "deployment.yaml",
        "service.yaml",
        "serviceaccount.yaml",
        "scale-out/statefulset-sharded.yaml",
        "scale-out/poddisruptionbudget.yaml",
    ];
    let dir = Path::new(ROOT).join("deploy/kubernetes");
    let out = Command::new(validate)
        .arg("--strict")
        .args(files.iter().map(|f| dir.join(f)))
        .output()
        .unwrap();
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{report}");
    for f in files {
        assert!(
            report
                .lines()
                .any(|l| l.contains(f) && l.contains("passed")),
            "{f} not validated:\n{report}"
        );
    }
}

#[test]
fn kubernetes_manifests_agree_with_each_other_and_the_exporter() {
    let deployment = yaml("deploy/kubernetes/deployment.yaml");
    let service = yaml("deploy/kubernetes/service.yaml");
    let monitor = yaml("deploy/kubernetes/servicemonitor.yaml");
    let pod = &deployment["spec"]["template"];
    let container = &pod["spec"]["containers"][0];
    // Ports: container, service and ServiceMonitor use one name and the
    // exporter's default port.
    let port = &container["ports"][0];
    assert_eq!(
        port["containerPort"].as_u64(),
        Some(u64::from(DEFAULT_PORT))
    );
    let port_name = port["name"].as_str().unwrap();
    assert_eq!(
        service["spec"]["ports"][0]["targetPort"].as_str(),
        Some(port_name)
    );
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"],
        service["spec"]["ports"][0]["name"]
    );
    // Selectors match.
    for (k, v) in service["spec"]["selector"].as_mapping().unwrap() {
        assert_eq!(&pod["metadata"]["labels"][k.as_str().unwrap()], v);
    }
    for (k, v) in monitor["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .unwrap()
    {
        assert_eq!(&service["metadata"]["labels"][k.as_str().unwrap()], v);
    }
    // Probes and hardening.
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/-/healthy")
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/-/ready")
    );
    let sc = &container["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(
        pod["spec"]["securityContext"]["runAsNonRoot"].as_bool(),
        Some(true)
    );
    assert!(container["resources"]["requests"].is_mapping());
    assert!(container["resources"]["limits"]["memory"].is_string());
    // IRSA.
    let sa = yaml("deploy/kubernetes/serviceaccount.yaml");
    assert!(sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:iam::"));
    assert_eq!(pod["spec"]["serviceAccountName"], sa["metadata"]["name"]);
    // The flags are the exporter's.
    let args: Vec<String> = container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert_flags_valid(&args, "deployment args");
    // The job label the alert rules select.
    let relabel = &monitor["spec"]["endpoints"][0]["relabelings"][0];
    assert_eq!(relabel["targetLabel"].as_str(), Some("job"));
    assert_eq!(relabel["replacement"].as_str(), Some("chime"));
    assert!(read("deploy/prometheus/rules.yml").contains("up{job=\\\"chime\\\"} == 0"));
    // No Kubernetes API token in the pod: IRSA mounts its own.
    assert_eq!(
        pod["spec"]["automountServiceAccountToken"].as_bool(),
        Some(false)
    );
    assert_eq!(sa["automountServiceAccountToken"].as_bool(), Some(false));
}

/// The documents of a manifest file.
fn documents(path: &str) -> Vec<Yaml> {
    serde_norway::Deserializer::from_str(&read(path))
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

#[test]
fn kustomizations_set_no_namespace_and_override_the_image() {
    for (dir, files) in [
        (
            "deploy/kubernetes",
            &[
                "serviceaccount.yaml",
                "deployment.yaml",
                "service.yaml",
                "servicemonitor.yaml",
                "prometheusrule.yaml",
            ][..],
        ),
        (
            "deploy/kubernetes/scale-out",
            &[
                "statefulset-sharded.yaml",
                "podmonitor.yaml",
                "poddisruptionbudget.yaml",
            ][..],
        ),
    ] {
        let k = yaml(&format!("{dir}/kustomization.yaml"));
        assert!(k.get("namespace").is_none(), "{dir}: namespace set");
        let resources: Vec<&str> = k["resources"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert_eq!(resources, files, "{dir}");
        let image = k["images"][0]["name"].as_str().unwrap();
        let mut images = 0;
        for file in files {
            for doc in documents(&format!("{dir}/{file}")) {
                assert!(
                    doc["metadata"].get("namespace").is_none(),
                    "{dir}/{file} hard-codes a namespace"
                );
                if let Some(containers) =
                    doc["spec"]["template"]["spec"]["containers"].as_sequence()
                {
                    for c in containers {
                        let name = c["image"].as_str().unwrap().split(':').next().unwrap();
                        assert_eq!(name, image, "{dir}/{file}: images: does not match");
                        images += 1;
                    }
                }
            }
        }
        assert_eq!(images, 1, "{dir}: one container image");
    }
}

#[test]
fn the_sharded_statefulset_is_scraped_once_per_pod_as_job_chime() {
    let docs = documents("deploy/kubernetes/scale-out/statefulset-sharded.yaml");
    let statefulset = docs.iter().find(|d| d["kind"] == "StatefulSet").unwrap();
    let headless = docs.iter().find(|d| d["kind"] == "Service").unwrap();
    let pod = &statefulset["spec"]["template"];
    let monitor = yaml("deploy/kubernetes/scale-out/podmonitor.yaml");
    assert_eq!(monitor["kind"].as_str(), Some("PodMonitor"));
    // The PodMonitor selects the StatefulSet's pods, on a port they have.
    let selects = |selector: &Yaml, labels: &Yaml| {
        selector
            .as_mapping()
            .unwrap()
            .iter()
            .all(|(k, v)| &labels[k.as_str().unwrap()] == v)
    };
    assert!(selects(
        &monitor["spec"]["selector"]["matchLabels"],
        &pod["metadata"]["labels"]
    ));
    let endpoint = &monitor["spec"]["podMetricsEndpoints"][0];
    assert!(pod["spec"]["containers"][0]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .any(|p| p["name"] == endpoint["port"]));
    assert_eq!(endpoint["path"].as_str(), Some("/metrics"));
    // The same job as the Deployment's ServiceMonitor (the mixin's selector).
    let base = yaml("deploy/kubernetes/servicemonitor.yaml");
    assert_eq!(
        endpoint["relabelings"],
        base["spec"]["endpoints"][0]["relabelings"]
    );
    // Not scraped twice: the base ServiceMonitor does not select the
    // sharded pods' Service, nor the base Service the sharded pods.
    assert!(!selects(
        &base["spec"]["selector"]["matchLabels"],
        &headless["metadata"]["labels"]
    ));
    let service = yaml("deploy/kubernetes/service.yaml");
    assert!(!selects(
        &service["spec"]["selector"],
        &pod["metadata"]["labels"]
    ));
    // One shard at a time may be disrupted.
    let pdb = yaml("deploy/kubernetes/scale-out/poddisruptionbudget.yaml");
    assert!(selects(
        &pdb["spec"]["selector"]["matchLabels"],
        &pod["metadata"]["labels"]
    ));
    assert_eq!(pdb["spec"]["maxUnavailable"].as_u64(), Some(1));
    assert_eq!(
        pod["spec"]["automountServiceAccountToken"].as_bool(),
        Some(false)
    );
}

/// The files generated from mixin/ are what `mixin/build.sh` writes now,
/// byte for byte (and the mixin's sources are jsonnetfmt-clean: the script
/// checks).
#[test]
#[ignore = "needs jsonnet"]
fn mixin_regenerates_every_committed_file_byte_for_byte() {
    crate::helpers::tool("jsonnet");
    crate::helpers::tool("jsonnetfmt");
    let dir = crate::helpers::TempDir::new("mixin");
    let out = Command::new("bash")
        .arg(Path::new(ROOT).join("mixin/build.sh"))
        .arg(&dir.0)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mixin/build.sh: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = [
        "deploy/prometheus/rules.yml",
        "deploy/kubernetes/prometheusrule.yaml",
        "dashboards/chime-bots.json",
        "mixin/tests/rules-cluster.yml",
    ];
    fn walk_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk_files(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut written = Vec::new();
    walk_files(&dir.0, &mut written);
    assert_eq!(written.len(), generated.len(), "{written:?}");
    for file in generated {
        let fresh = std::fs::read(dir.0.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let committed = std::fs::read(Path::new(ROOT).join(file)).unwrap();
        assert!(
            fresh == committed,
            "{file} differs from what mixin/build.sh generates: run mixin/build.sh"
        );
    }
}

#[test]
fn prometheus_rule_resource_carries_exactly_the_rules_file() {
    let rules = yaml("deploy/prometheus/rules.yml");
    let resource = yaml("deploy/kubernetes/prometheusrule.yaml");
    assert_eq!(resource["kind"].as_str(), Some("PrometheusRule"));
    assert_eq!(
        resource["spec"]["groups"], rules["groups"],
        "run mixin/build.sh"
    );
}

#[test]
fn compose_stack_wires_exporter_prometheus_and_grafana() {
    let compose = yaml("deploy/docker-compose.yml");
    let services = &compose["services"];
    let exporter = &services["chime-exporter"];
    let command: Vec<String> = exporter["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert!(command.contains(&"--demo".to_owned()));
    assert_flags_valid(&command, "compose command");
    assert_eq!(
        exporter["ports"][0].as_str(),
        Some(format!("{DEFAULT_PORT}:{DEFAULT_PORT}").as_str())
    );
    let prom_config = yaml("deploy/prometheus/prometheus.yml");
    assert_eq!(
        prom_config["scrape_configs"][0]["static_configs"][0]["targets"][0].as_str(),
        Some(format!("chime-exporter:{DEFAULT_PORT}").as_str())
    );
    assert_eq!(
        prom_config["scrape_configs"][0]["job_name"].as_str(),
        Some("chime")
    );
    // Each mounted file exists.
    for service in ["prometheus", "grafana"] {
        for volume in services[service]["volumes"].as_sequence().unwrap() {
            let host = volume.as_str().unwrap().split(':').next().unwrap();
            let path = Path::new(ROOT).join("deploy").join(host);
            assert!(path.exists(), "{service} mounts missing {host}");
        }
    }
    // Grafana's dashboard provider reads the folder compose mounts the
    // dashboards into.
    let provider = yaml("deploy/grafana/provisioning/dashboards/chime.yml");
    let path = provider["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    assert!(services["grafana"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .any(|v| v.as_str().unwrap().ends_with(&format!(":{path}:ro"))));
}

fn walk<'a>(v: &'a Json, out: &mut Vec<&'a Json>) {
    out.push(v);
    match v {
        Json::Array(a) => a.iter().for_each(|x| walk(x, out)),
        Json::Object(o) => o.values().for_each(|x| walk(x, out)),
        _ => {}
    }
}

#[test]
fn dashboard_works_imported_and_provisioned() {
    let dashboard: Json = serde_json::from_str(&read("dashboards/chime-bots.json")).unwrap();
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 39);
    let vars = dashboard["templating"]["list"].as_array().unwrap();
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("variable {name}"))
    };
    assert_eq!(var("datasource")["type"], "datasource");
    assert_eq!(var("datasource")["query"], "prometheus");
    assert!(var("job")["query"]["query"]
        .as_str()
        .unwrap()
        .starts_with("label_values("));
    for name in ["instance", "target"] {
        assert_eq!(var(name)["multi"], true, "{name}");
        assert!(var(name)["query"]["query"]
            .as_str()
            .unwrap()
            .starts_with("label_values("));
    }
    // Accounts: multi-select, ids as values, "name · id" as text.
    let account = var("account_id");
    assert_eq!(account["multi"], true);
    let query = account["query"]["query"].as_str().unwrap();
    assert!(query.starts_with("query_result(") && query.contains("chime_account_info"));
    assert!(account["regex"].as_str().unwrap().contains("(?<text>"));
    // The status page is linked.
    assert!(dashboard["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["url"].as_str().unwrap().ends_with("/status")));
    let mut nodes = Vec::new();
    walk(&dashboard, &mut nodes);
    for node in nodes {
        // Every datasource reference goes through the variable.
        if let Some(uid) = node.get("datasource").and_then(|d| d.get("uid")) {
            let uid = uid.as_str().unwrap();
            assert!(
                uid == "${datasource}" || uid == "-- Grafana --",
                "hard-coded datasource {uid}"
            );
        }
        // Every rate() uses $__rate_interval.
        if let Some(expr) = node.get("expr").and_then(Json::as_str) {
            assert!(!expr.contains("vector("), "masks an empty result: {expr}");
            // A legend that shows accounts names them.
            let legend = node["legendFormat"].as_str().unwrap_or_default();
            if legend.contains("account_id") {
                assert!(legend.contains("{{account_name}}"), "{legend}");
            }
            for (i, _) in expr.match_indices("rate(") {
                let rest = &expr[i..];
                let window = rest.find('[').map(|s| &rest[s..]).unwrap_or_default();
                assert!(
                    window.starts_with("[$__rate_interval]"),
                    "rate without $__rate_interval: {expr}"
                );
            }
        }
    }
    let titles: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    for wanted in [
        "Bots",
        "Disabled bots",
        "Disabled ratio",
        "Accounts down",
        "Bots per account",
        "Throttling",
        "API latency p50 / p99",
        "Cache hit ratio",
        "Data age per account",
        "Exporter build",
        "Probe success",
        "Probe duration",
        "Resident memory",
        "CPU",
        "HTTP requests by code",
        "Config reloads",
        "Refresh capacity ratio",
        "Data age in cache TTLs",
        "Targets up",
        "AppInstances up",
        "Bots per AppInstance",
        "AppInstance data age",
        "AppInstanceBots",
        "SDK API requests",
        "SDK API errors",
    ] {
        assert!(titles.contains(&wanted), "panel {wanted} missing");
    }
}

#[test]
fn scale_out_manifests_agree_with_the_exporter() {
    // The sharded StatefulSet's flags, with the pod name Kubernetes puts in
    // $(POD_NAME), are accepted and give the pod's ordinal.
    let text = read("deploy/kubernetes/scale-out/statefulset-sharded.yaml");
    let statefulset: Yaml = serde_norway::Deserializer::from_str(&text)
        .next()
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .unwrap();
    let replicas = statefulset["spec"]["replicas"].as_u64().unwrap();
    let args: Vec<String> = statefulset["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            a.as_str().unwrap().replace(
                "$(POD_NAME)",
                &format!("chime-exporter-sharded-{}", replicas - 1),
            )
        })
        .collect();
    assert!(
        args.contains(&format!("--shard.count={replicas}")),
        "replicas and --shard.count differ"
    );
    let mut argv = vec!["chime_exporter".to_owned()];
    argv.extend(args);
    let (cli, explicit) = Cli::parse_args(&argv).unwrap();
    let config = cli.into_config_with(&explicit).unwrap();
    assert_eq!(u64::from(config.shard.index), replicas - 1);
}

#[test]
#[ignore = "needs promtool"]
fn probe_scrape_config_passes_promtool() {
    let promtool = crate::helpers::tool("promtool");
    let out = Command::new(promtool)
        .args(["check", "config"])
        .arg(Path::new(ROOT).join("deploy/prometheus/probe-sharded.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Every `by (...)` and `on (...)` clause of `expr` keeps `label`.
fn assert_grouping_keeps(expr: &str, label: &str, what: &str) {
    for keyword in ["by (", "on ("] {
        for (i, _) in expr.match_indices(keyword) {
            let rest = &expr[i + keyword.len()..];
            let labels = &rest[..rest.find(')').unwrap()];
            assert!(
                labels.split(", ").any(|l| l == label),
                "{what}: {keyword}{labels}) drops {label}: {expr}"
            );
        }
    }
}

/// With `clusterLabel` set, every aggregation and join of the rules and of
/// the dashboard keeps the cluster, and every dashboard query filters on
/// the cluster variable.
#[test]
#[ignore = "needs jsonnet"]
fn with_a_cluster_label_every_aggregation_keeps_the_cluster() {
    let jsonnet = crate::helpers::tool("jsonnet");
    let rules = yaml("mixin/tests/rules-cluster.yml");
    let mut rule_count = 0;
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let name = rule["alert"].as_str().or(rule["record"].as_str()).unwrap();
            assert_grouping_keeps(rule["expr"].as_str().unwrap(), "cluster", name);
            rule_count += 1;
        }
    }
    assert!(rule_count >= 15);
    let out = Command::new(jsonnet)
        .current_dir(Path::new(ROOT).join("mixin"))
        .args([
            "-e",
            "((import 'mixin.libsonnet') + { _config+:: { clusterLabel: 'cluster' } }).grafanaDashboards['chime-bots.json']",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dashboard: Json = serde_json::from_slice(&out.stdout).unwrap();
    let vars = dashboard["templating"]["list"].as_array().unwrap();
    assert!(vars.iter().any(|v| v["name"] == "cluster"));
    let mut nodes = Vec::new();
    walk(&dashboard, &mut nodes);
    let mut exprs = 0;
    for node in nodes {
        if let Some(expr) = node.get("expr").and_then(Json::as_str) {
            assert_grouping_keeps(expr, "cluster", "dashboard");
            // Every selector of a metric filters on the cluster.
            assert_eq!(
                expr.matches('{').count(),
                expr.matches("cluster=~\"$cluster\"").count(),
                "{expr}"
            );
            exprs += 1;
        }
    }
    assert!(exprs >= 30);
}
