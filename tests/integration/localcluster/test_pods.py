"""Pods run as local processes: phases, exit codes, logs, restarts, env, probes, deletion."""

import ipaddress
import json
import subprocess

import pytest
from lc_helpers import IMAGE, apply, events, get, wait_for, wait_phase

pytestmark = pytest.mark.cluster


def run_pod(kubectl, ns, name, *command, restart="Never"):
    kubectl("run", name, "-n", ns, f"--restart={restart}", f"--image={IMAGE}", "--command", "--",
            *command)


def test_run_python_succeeds_and_logs(kubectl, namespace):
    run_pod(kubectl, namespace, "hello", "python", "-c", 'print("hello")')
    assert wait_phase(kubectl, namespace, "hello", {"Succeeded", "Failed"}) == "Succeeded"
    assert kubectl("logs", "-n", namespace, "hello").stdout == "hello\n"
    pod = get(kubectl, "pod", "hello", "-n", namespace)
    ip = ipaddress.ip_address(pod["status"]["podIP"])
    assert ip.is_private and not ip.is_loopback
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0 and terminated["reason"] == "Completed"


def test_failing_command_ends_failed_with_its_exit_code(kubectl, namespace):
    run_pod(kubectl, namespace, "boom", "python", "-c", "import sys; sys.exit(3)")
    assert wait_phase(kubectl, namespace, "boom", {"Succeeded", "Failed"}) == "Failed"
    status = get(kubectl, "pod", "boom", "-n", namespace)["status"]["containerStatuses"][0]
    assert status["state"]["terminated"]["exitCode"] == 3
    assert status["state"]["terminated"]["reason"] == "Error"


def test_termination_message_falls_back_to_logs(kubectl, namespace):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "msg"},
           "spec": {"restartPolicy": "Never", "containers": [{
               "name": "main", "image": IMAGE, "terminationMessagePolicy": "FallbackToLogsOnError",
               "command": ["python", "-c", "import sys; print('first', flush=True); sys.exit('fatal: no scheduler')"]}]}}
    apply(kubectl, namespace, pod)
    assert wait_phase(kubectl, namespace, "msg", {"Succeeded", "Failed"}) == "Failed"
    terminated = get(kubectl, "pod", "msg", "-n", namespace)["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["message"].splitlines() == ["first", "fatal: no scheduler"]


def test_missing_command_fails_like_a_container_runtime(kubectl, namespace):
    run_pod(kubectl, namespace, "nocmd", "no-such-program-here", "--flag")
    assert wait_phase(kubectl, namespace, "nocmd", {"Succeeded", "Failed"}) == "Failed"
    state = get(kubectl, "pod", "nocmd", "-n", namespace)["status"]["containerStatuses"][0]["state"]
    assert state["terminated"]["reason"] == "StartError"
    assert "executable file not found" in state["terminated"]["message"]
    failed = wait_for(lambda: [e for e in events(kubectl, namespace, "nocmd")
                               if e["reason"] == "Failed" and e["type"] == "Warning"],
                      "a Warning Failed event")
    assert "no-such-program-here" in failed[0]["message"]


def test_empty_command_runs_args_as_the_image_entrypoint(kubectl, namespace):
    kubectl("run", "entry", "-n", namespace, "--restart=Never", f"--image={IMAGE}", "--",
            "python", "-c", "import os; print('from args', os.getcwd())")
    assert wait_phase(kubectl, namespace, "entry", {"Succeeded", "Failed"}) == "Succeeded"
    assert kubectl("logs", "-n", namespace, "entry").stdout == "from args /\n"


def test_logs_tail_follow_and_previous_with_crash_loop_backoff(kubectl, namespace):
    script = "import sys, time\nfor i in range(5):\n    print('line', i, flush=True)\n    time.sleep(0.3)\nsys.exit(1)"
    run_pod(kubectl, namespace, "crash", "python", "-c", script, restart="Always")
    # -f streams until the container exits.
    wait_for(lambda: get(kubectl, "pod", "crash", "-n", namespace).get("status", {}).get("podIP"),
             "the pod to start")
    follow = kubectl("logs", "-f", "-n", namespace, "crash", timeout=60).stdout
    assert follow == "".join(f"line {i}\n" for i in range(5))

    def restarted():
        s = get(kubectl, "pod", "crash", "-n", namespace)["status"]["containerStatuses"][0]
        return s["restartCount"] >= 1 and s
    wait_for(restarted, "a restart", 30)
    previous = kubectl("logs", "--previous", "--tail=2", "-n", namespace, "crash").stdout
    assert previous == "line 3\nline 4\n"

    def backing_off():
        s = get(kubectl, "pod", "crash", "-n", namespace)["status"]["containerStatuses"][0]
        return s["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff" and s
    status = wait_for(backing_off, "CrashLoopBackOff", 30)
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert get(kubectl, "pod", "crash", "-n", namespace)["status"]["phase"] == "Running"
    assert [e for e in events(kubectl, namespace, "crash") if e["reason"] == "BackOff"]


def test_env_valuefrom_and_dollar_expansion(kubectl, namespace):
    kubectl("create", "configmap", "cfg", "-n", namespace, "--from-literal=COLOR=blue",
            "--from-literal=SIZE=10")
    kubectl("create", "secret", "generic", "sec", "-n", namespace, "--from-literal=password=s3cret")
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "env", "labels": {"tier": "gold"}},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "main", "image": IMAGE, "workingDir": "/tmp",
            "command": ["python", "-c", "import json, os, sys; print(json.dumps({'env': dict(os.environ), 'argv': sys.argv[1:], 'cwd': os.getcwd()}))"],
            "args": ["$(GREETING)", "$$(GREETING)", "$(UNDEFINED)"],
            "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CM_"}],
            "env": [
                {"name": "NAME", "value": "world"},
                {"name": "GREETING", "value": "hello-$(NAME)-$(CM_COLOR)"},
                {"name": "LATER_REF", "value": "$(DEFINED_LATER)"},
                {"name": "DEFINED_LATER", "value": "x"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "TIER", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['tier']"}}},
                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "password"}}},
                {"name": "OPTIONAL", "valueFrom": {"configMapKeyRef": {"name": "missing", "key": "k", "optional": True}}},
                {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
            ],
            "resources": {"requests": {"memory": "64Mi", "cpu": "100m"}, "limits": {"memory": "128Mi"}},
        }]},
    }
    apply(kubectl, namespace, pod)
    assert wait_phase(kubectl, namespace, "env", {"Succeeded", "Failed"}) == "Succeeded"
    out = json.loads(kubectl("logs", "-n", namespace, "env").stdout)
    env = out["env"]
    assert env["GREETING"] == "hello-world-blue"
    assert env["CM_SIZE"] == "10"
    assert env["LATER_REF"] == "$(DEFINED_LATER)"
    assert env["POD_NAME"] == "env" and env["TIER"] == "gold" and env["PASSWORD"] == "s3cret"
    assert env["POD_IP"] == get(kubectl, "pod", "env", "-n", namespace)["status"]["podIP"]
    assert env["MEM"] == "128"
    assert "OPTIONAL" not in env
    assert env["KUBERNETES_SERVICE_HOST"] and env["KUBERNETES_SERVICE_PORT"] == "443"
    assert out["argv"] == ["hello-world-blue", "$(GREETING)", "$(UNDEFINED)"]
    assert out["cwd"] == "/tmp"
    assert env["HOSTNAME"] == "env"
    status = get(kubectl, "pod", "env", "-n", namespace)["status"]["containerStatuses"][0]
    assert status["resources"]["limits"]["memory"] == "128Mi"


def test_missing_configmap_keeps_the_container_waiting(kubectl, namespace):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "cfgerr"},
           "spec": {"containers": [{"name": "main", "image": IMAGE, "command": ["sleep", "60"],
                                    "envFrom": [{"configMapRef": {"name": "absent"}}]}]}}
    apply(kubectl, namespace, pod)

    def waiting():
        statuses = get(kubectl, "pod", "cfgerr", "-n", namespace).get("status", {}).get("containerStatuses") or []
        return statuses and statuses[0]["state"].get("waiting", {}).get("reason") == "CreateContainerConfigError"
    wait_for(waiting, "CreateContainerConfigError")
    assert get(kubectl, "pod", "cfgerr", "-n", namespace)["status"]["phase"] == "Pending"


def test_init_containers_volumes_and_probes(kubectl, namespace):
    server = ("import http.server, os\n"
              "os.chdir('/data')\n"
              "http.server.ThreadingHTTPServer(('', 8080), http.server.SimpleHTTPRequestHandler).serve_forever()")
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probed"},
        "spec": {
            "volumes": [{"name": "data", "emptyDir": {}}],
            "initContainers": [{
                "name": "prepare", "image": IMAGE, "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                "command": ["python", "-c", "open('/data/index.html', 'w').write('prepared')"],
            }],
            "containers": [{
                "name": "web", "image": IMAGE, "command": ["python", "-c", server],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                "ports": [{"name": "http", "containerPort": 8080}],
                "startupProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 1, "failureThreshold": 30},
                "readinessProbe": {"httpGet": {"path": "/index.html", "port": "http"}, "periodSeconds": 1},
                "livenessProbe": {"exec": {"command": ["test", "-f", "/data/index.html"]}, "periodSeconds": 1},
            }],
        },
    }
    apply(kubectl, namespace, pod)

    def ready():
        p = get(kubectl, "pod", "probed", "-n", namespace)
        conds = {c["type"]: c["status"] for c in p.get("status", {}).get("conditions") or []}
        return conds.get("Ready") == "True" and p
    p = wait_for(ready, "the pod to become Ready")
    init = p["status"]["initContainerStatuses"][0]["state"]["terminated"]
    assert init["exitCode"] == 0 and init["reason"] == "Completed"
    ip = p["status"]["podIP"]
    import urllib.request
    assert urllib.request.urlopen(f"http://{ip}:8080/index.html", timeout=5).read() == b"prepared"

    # A failing liveness probe gets the container killed and restarted.
    kill = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "unhealthy"},
            "spec": {"containers": [{
                "name": "main", "image": IMAGE, "command": ["sleep", "600"],
                "livenessProbe": {"tcpSocket": {"port": 9}, "periodSeconds": 1, "failureThreshold": 2},
            }]}}
    apply(kubectl, namespace, kill)

    def restarted():
        statuses = get(kubectl, "pod", "unhealthy", "-n", namespace).get("status", {}).get("containerStatuses") or []
        return statuses and statuses[0]["restartCount"] >= 1
    wait_for(restarted, "a liveness restart", 60)
    reasons = {e["reason"] for e in events(kubectl, namespace, "unhealthy")}
    assert {"Unhealthy", "Killing"} <= reasons


def test_graceful_deletion_sends_sigterm_then_deletes(kubectl, namespace, tmp_path):
    marker = tmp_path / "terminated"
    script = ("import signal, sys, time\n"
              "def bye(*_):\n"
              "    open('/out/terminated', 'w').write('SIGTERM')\n"
              "    sys.exit(0)\n"
              "signal.signal(signal.SIGTERM, bye)\n"
              "print('ready', flush=True)\n"
              "time.sleep(600)")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "graceful"},
           "spec": {"terminationGracePeriodSeconds": 30,
                    "volumes": [{"name": "out", "hostPath": {"path": str(tmp_path)}}],
                    "containers": [{"name": "main", "image": IMAGE, "command": ["python", "-c", script],
                                    "volumeMounts": [{"name": "out", "mountPath": "/out"}]}]}}
    apply(kubectl, namespace, pod)
    wait_for(lambda: "ready" in kubectl("logs", "-n", namespace, "graceful", check=False).stdout,
             "the process to install its handler")
    kubectl("delete", "pod", "graceful", "-n", namespace, "--wait=true", timeout=60)
    assert marker.read_text() == "SIGTERM"
    assert kubectl("get", "pod", "graceful", "-n", namespace, check=False).returncode != 0

    stubborn = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stubborn"},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                    "name": "main", "image": IMAGE,
                    "command": ["python", "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ok', flush=True); time.sleep(600)"]}]}}
    apply(kubectl, namespace, stubborn)
    wait_for(lambda: "ok" in kubectl("logs", "-n", namespace, "stubborn", check=False).stdout,
             "the stubborn process to start")
    # SIGTERM is ignored: only the SIGKILL after the grace period lets the deletion finish.
    kubectl("delete", "pod", "stubborn", "-n", namespace, "--wait=true", timeout=60)
    assert kubectl("get", "pod", "stubborn", "-n", namespace, check=False).returncode != 0


def test_pod_processes_run_in_their_own_network_namespace(kubectl, namespace):
    script = "import socket; print(socket.gethostname())"
    run_pod(kubectl, namespace, "netns", "python", "-c", script)
    assert wait_phase(kubectl, namespace, "netns", {"Succeeded", "Failed"}) == "Succeeded"
    assert kubectl("logs", "-n", namespace, "netns").stdout.strip() == "netns"
    # Nothing the pods run is visible as a listener on the host's own interfaces.
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        local = line.split()[3]
        assert not local.startswith("0.0.0.0:8080")


def test_container_exit_takes_its_children_along(kubectl, namespace):
    run_pod(kubectl, namespace, "parent", "sh", "-c", "sleep 600 & echo started; exit 0")
    assert wait_phase(kubectl, namespace, "parent", {"Succeeded", "Failed"}) == "Succeeded"
    uid = get(kubectl, "pod", "parent", "-n", namespace)["metadata"]["uid"]
    netns = [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
             if n.endswith("pod-" + uid.replace("-", "")[:12])]
    assert len(netns) == 1
    assert subprocess.run(["ip", "netns", "pids", netns[0]], capture_output=True, text=True).stdout.split() == []


def test_kubectl_exec_streams_and_exit_codes(kubectl, namespace):
    run_pod(kubectl, namespace, "shell", "sleep", "600", restart="Always")
    wait_phase(kubectl, namespace, "shell", {"Running"})
    proc = kubectl("exec", "-n", namespace, "shell", "--", "sh", "-c",
                   "echo out; echo err >&2; hostname; exit 3", check=False)
    assert proc.returncode == 3
    assert proc.stdout == "out\nshell\n"
    assert "err" in proc.stderr
    assert kubectl("exec", "-i", "-n", namespace, "shell", "--", "cat", input="from stdin\n").stdout == "from stdin\n"
    missing = kubectl("exec", "-n", namespace, "shell", "--", "no-such-program", check=False)
    assert missing.returncode != 0 and "executable file not found" in missing.stderr


def test_lifecycle_hooks_and_active_deadline(kubectl, namespace, tmp_path):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hooks"},
           "spec": {"terminationGracePeriodSeconds": 10,
                    "volumes": [{"name": "out", "hostPath": {"path": str(tmp_path)}}],
                    "containers": [{
                        "name": "main", "image": IMAGE, "command": ["sleep", "600"],
                        "volumeMounts": [{"name": "out", "mountPath": "/out"}],
                        "lifecycle": {
                            "postStart": {"exec": {"command": ["sh", "-c", "echo $HOSTNAME > /out/post-start"]}},
                            "preStop": {"exec": {"command": ["sh", "-c", "echo bye > /out/pre-stop"]}},
                        }}]}}
    apply(kubectl, namespace, pod)
    wait_phase(kubectl, namespace, "hooks", {"Running"})
    assert (tmp_path / "post-start").read_text() == "hooks\n"
    kubectl("delete", "pod", "hooks", "-n", namespace, "--wait=true", timeout=60)
    assert (tmp_path / "pre-stop").read_text() == "bye\n"

    deadline = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "deadline"},
                "spec": {"activeDeadlineSeconds": 2, "restartPolicy": "Never",
                         "containers": [{"name": "main", "image": IMAGE, "command": ["sleep", "600"]}]}}
    apply(kubectl, namespace, deadline)
    assert wait_phase(kubectl, namespace, "deadline", {"Succeeded", "Failed"}, timeout=60) == "Failed"
    assert get(kubectl, "pod", "deadline", "-n", namespace)["status"]["reason"] == "DeadlineExceeded"


def test_volume_over_the_checkout_keeps_the_emulated_image(kubectl, namespace):
    from pathlib import Path
    parent = str(Path(__file__).resolve().parents[4])  # the folder holding the checkout
    assert parent != "/"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "shadow"},
           "spec": {"restartPolicy": "Never", "volumes": [{"name": "scratch", "emptyDir": {}}],
                    "containers": [{"name": "main", "image": IMAGE, "workingDir": parent,
                                    "volumeMounts": [{"name": "scratch", "mountPath": parent}],
                                    "command": ["python", "-c",
                                                "import os, dask; open('mine', 'w').write('x'); print(sorted(os.listdir('.')))"]}]}}
    apply(kubectl, namespace, pod)
    assert wait_phase(kubectl, namespace, "shadow", {"Succeeded", "Failed"}) == "Succeeded", \
        kubectl("logs", "-n", namespace, "shadow", check=False).stdout
    listing = kubectl("logs", "-n", namespace, "shadow").stdout
    assert "'mine'" in listing
    assert not (Path(parent) / "mine").exists()  # written into the volume, not the host


def test_pods_keep_reaching_the_gateway_while_other_pods_come_and_go(k8s, kubectl, namespace):
    """The bridge keeps one MAC address. A Linux bridge without one takes the lowest MAC of its
    ports, so it would change as pods' veths come and go, and a running pod's cached gateway
    MAC would go stale: its packets to Services and the host were dropped for tens of seconds."""
    bridge = k8s.local_config["bridge"]
    gateway = k8s.local_config["bridge_ip"]
    mac_before = open(f"/sys/class/net/{bridge}/address").read().strip()
    run_pod(kubectl, namespace, "steady", "sleep", "600", restart="Always")
    wait_phase(kubectl, namespace, "steady", {"Running"})
    reach = ("import os, socket; socket.create_connection((os.environ['KUBERNETES_SERVICE_HOST'], "
             "int(os.environ['KUBERNETES_SERVICE_PORT'])), timeout=3).close(); print(open('/proc/net/arp').read())")
    kubectl("exec", "-n", namespace, "steady", "--", "python", "-c", reach)
    for i in range(4):  # each new veth has a random MAC; some will sort below the first ones
        run_pod(kubectl, namespace, f"churn-{i}", "sleep", "600", restart="Always")
    for i in range(4):
        wait_phase(kubectl, namespace, f"churn-{i}", {"Running"})
    kubectl("delete", "pod", "-n", namespace, "--wait=true", *[f"churn-{i}" for i in range(4)])
    assert open(f"/sys/class/net/{bridge}/address").read().strip() == mac_before
    arp = kubectl("exec", "-n", namespace, "steady", "--", "python", "-c", reach, timeout=30).stdout
    gateway_macs = [row[3] for row in map(str.split, arp.splitlines()[1:]) if row and row[0] == gateway]
    assert gateway_macs == [mac_before]
