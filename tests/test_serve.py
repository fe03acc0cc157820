"""A class behind a load balancer (issue 20, item 1), without starting anything: the HAProxy configuration that
deploy/class_server.py writes for N replicas (parsed, and checked by `haproxy -c`), what every replica is given,
and the Kubernetes layout in deploy/k8s/ with the image of deploy/Dockerfile. tests/test_serve_live.py starts
two replicas behind HAProxy for real."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deploy.class_server import COOKIE, HEALTH, ClassServer, haproxy_config, replica_env, replica_name, replica_ports

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
HAPROXY = shutil.which("haproxy", path=f"{os.environ.get('PATH', '')}:/usr/sbin")


def sections(cfg: str) -> dict[str, list[list[str]]]:
    """haproxy.cfg -> "global" / "defaults" / "frontend NAME" / "backend NAME" -> its lines split into words,
    comments dropped."""
    out, current = {}, None
    for raw in cfg.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        words = line.split()
        if not raw[0].isspace():
            current = " ".join(words)
            out[current] = []
        else:
            out[current].append(words)
    return out


def seconds(text: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", text).groups()
    return int(number) * {"ms": 1e-3, "s": 1, None: 1e-3, "m": 60, "h": 3600, "d": 86400}[unit]


@pytest.mark.parametrize("n", [1, 2, 4, 16])
def test_the_haproxy_configuration_for_n_replicas(n):
    ports = replica_ports(8600, n)
    assert ports == list(range(8601, 8601 + n))
    cfg = sections(haproxy_config(ports, 8600, "0.0.0.0"))
    front = cfg["frontend cnnviz"]
    assert ["bind", "0.0.0.0:8600"] in front and ["default_backend", "replicas"] in front
    back = cfg["backend replicas"]
    servers = [w for w in back if w[0] == "server"]
    # one server per replica on loopback, each with its own cookie value (its name)
    assert [(w[1], w[2]) for w in servers] == [(replica_name(i), f"127.0.0.1:{p}") for i, p in enumerate(ports)]
    assert all(w[w.index("cookie") + 1] == w[1] for w in servers)
    assert len({w[1] for w in servers}) == n
    # stickiness by an inserted cookie, never by the client's address (a lecture hall behind one NAT)
    assert ["cookie", COOKIE, "insert", "indirect", "nocache", "httponly"] in back
    assert not any(w[:2] == ["balance", "source"] or w[0] == "stick" or "hash-type" in w for w in back)
    # health: GET /_stcore/health on every server
    assert ["option", "httpchk"] in back and ["http-check", "send", "meth", "GET", "uri", HEALTH] in back
    assert ["http-check", "expect", "status", "200"] in back
    assert any(w[0] == "default-server" and "check" in w for w in back)
    # websockets stay open through a lecture; a dead replica's browsers go elsewhere
    timeouts = {w[1]: seconds(w[2]) for w in cfg["defaults"] if w[0] == "timeout"}
    assert timeouts["tunnel"] >= 3600 and timeouts["connect"] <= 10 and timeouts["check"] >= 5
    assert ["mode", "http"] in cfg["defaults"] and ["option", "redispatch", "1"] in cfg["defaults"]


@pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (make test installs it)")
@pytest.mark.parametrize("n", [1, 3])
def test_haproxy_accepts_the_configuration(tmp_path, n):
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(haproxy_config(replica_ports(18600, n), 18600, "127.0.0.1", str(tmp_path / "s.sock")))
    check = subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Configuration file is valid" in check.stdout
    cfg.write_text(cfg.read_text().replace("timeout tunnel", "timeout tunel"))  # the check really checks
    assert subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True).returncode != 0


def test_every_replica_gets_the_same_environment(tmp_path):
    base = {"CNNVIZ_RUNS": str(tmp_path / "runs"), "CNNVIZ_DB": f"sqlite:///{tmp_path}/class.sqlite", "PATH": "/bin"}
    server = ClassServer(4, 18600, "127.0.0.1", workdir=tmp_path, env=base, warm=False)
    env = server.child_env  # one dict, given to every replica (Child.start)
    assert {k: env[k] for k in base} == base  # runs/ and the class database shared as the launcher has them
    assert len(env["STREAMLIT_SERVER_COOKIE_SECRET"]) == 64  # one cookie secret for all replicas
    assert env["CNNVIZ_THREADS"] == str(max(1, (os.cpu_count() or 1) // 4))
    assert replica_env({"CNNVIZ_THREADS": "3"}, 4, cores=16)["CNNVIZ_THREADS"] == "3"  # an explicit value stays
    assert replica_env({}, 4, cores=16)["CNNVIZ_THREADS"] == "4" and replica_env({}, 4, cores=2)["CNNVIZ_THREADS"] == "1"
    assert replica_env({"STREAMLIT_SERVER_COOKIE_SECRET": "x"}, 2)["STREAMLIT_SERVER_COOKIE_SECRET"] == "x"
    # one instructor key for the class, whichever replica a student or the instructor lands on
    assert len(env["CNNVIZ_INSTRUCTOR_KEY"]) >= 16
    assert replica_env({"CNNVIZ_INSTRUCTOR_KEY": "k"}, 2)["CNNVIZ_INSTRUCTOR_KEY"] == "k"


@pytest.mark.parametrize("kwargs", [dict(replicas=0), dict(replicas=65), dict(replicas=2, ports=[9000, 9000]),
                                    dict(replicas=2, ports=[8600, 9000]), dict(replicas=2, ports=[9001])])
def test_impossible_layouts_are_refused(tmp_path, kwargs):
    with pytest.raises(ValueError):
        ClassServer(port=8600, workdir=tmp_path, **kwargs)
    with pytest.raises(ValueError):
        haproxy_config([], 8600)


def test_make_class_and_ci_install_haproxy():
    makefile = (ROOT / "Makefile").read_text()
    packages = re.search(r"^DEBIAN_PACKAGES := (.*)$", makefile, re.M).group(1).split()
    assert "haproxy" in packages
    assert re.search(r"^class: DEBIAN_PACKAGES := haproxy$", makefile, re.M)
    assert re.search(r"^class: system \$\(VENV\)/\.installed\n\t\$\(PY\) -m deploy\.class_server --replicas \$\(REPLICAS\) "
                     r"--port \$\(PORT\)$", makefile, re.M)
    assert re.search(r"^REPLICAS \?= \$\(shell nproc", makefile, re.M)  # one replica per core by default
    assert "haproxy" in re.search(r"apt-get install .*", (ROOT / ".ci" / "run").read_text()).group(0).split()


# ---------------------------------------------------------------- Kubernetes

def manifests() -> dict[str, dict]:
    docs = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            docs[doc["kind"]] = doc
    return docs


def test_the_kubernetes_manifests_parse_and_are_all_applied():
    docs = manifests()
    assert {"Kustomization", "Deployment", "Service", "Ingress", "PersistentVolumeClaim"} <= set(docs)
    listed = docs["Kustomization"]["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def test_the_deployment_health_checks_runs_and_shutdown():
    docs = manifests()
    dep = docs["Deployment"]
    spec = dep["spec"]["template"]["spec"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert dep["spec"]["replicas"] >= 2
    (container,) = spec["containers"]
    (port,) = container["ports"]
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == HEALTH and get["port"] in (port["name"], port["containerPort"]), probe
    env = {e["name"]: e for e in container["env"]}
    runs = env["CNNVIZ_RUNS"]["value"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == runs)
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    pvc = docs["PersistentVolumeClaim"]
    assert volume["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert "ReadWriteMany" in pvc["spec"]["accessModes"]  # replicas on several nodes share runs/
    assert env["CNNVIZ_DB"]["valueFrom"]["secretKeyRef"]["name"]  # the class database, from a Secret
    assert spec["terminationGracePeriodSeconds"] >= 15  # time to save the trainings after SIGTERM


def test_the_service_and_the_ingress_stick_by_cookie():
    docs = manifests()
    dep, svc, ing = docs["Deployment"], docs["Service"], docs["Ingress"]
    port = dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    (svc_port,) = svc["spec"]["ports"]
    assert svc_port["targetPort"] in (port["name"], port["containerPort"])
    assert svc["spec"].get("sessionAffinity", "None") == "None"  # not by client address
    notes = ing["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert notes["nginx.ingress.kubernetes.io/session-cookie-name"]
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600  # idle websockets
    assert int(notes["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    (rule,) = ing["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    backend = path["backend"]["service"]
    assert backend["name"] == svc["metadata"]["name"] and path["path"] == "/"
    assert backend["port"].get("name") == svc_port["name"] or backend["port"].get("number") == svc_port["port"]


def test_the_image_serves_on_the_deployment_s_port_with_the_readme_s_commands():
    docker = (ROOT / "deploy" / "Dockerfile").read_text()
    port = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
    assert re.search(rf"^EXPOSE {port}$", docker, re.M)
    cmd = yaml.safe_load(re.search(r"^CMD (\[.*\])$", docker, re.M).group(1))  # exec form: SIGTERM reaches it
    assert cmd[:3] == [".venv/bin/streamlit", "run", "app.py"] and cmd[cmd.index("--server.port") + 1] == str(port)
    assert cmd[cmd.index("--server.address") + 1] == "0.0.0.0"
    assert re.search(r"^RUN make \.venv/\.installed PYTHON=python3\.11$", docker, re.M)  # what `make run` does first
    runs = next(e["value"] for e in manifests()["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"]
                if e["name"] == "CNNVIZ_RUNS")
    assert f"CNNVIZ_RUNS={runs}" in docker
    assert ".venv" in (ROOT / "deploy" / "Dockerfile.dockerignore").read_text().split()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_the_layout():
    """`kubectl apply -k deploy/k8s/` starts by this build (offline, no cluster needed)."""
    out = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(out.stdout))
    assert kinds == ["Deployment", "Ingress", "PersistentVolumeClaim", "Service"]
