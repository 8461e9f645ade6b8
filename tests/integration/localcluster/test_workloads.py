"""Controllers, the scheduler, Services and DNS work together on the local cluster."""

import json
import urllib.request

import pytest
from lc_helpers import IMAGE, apply, events, get, wait_for, wait_phase

pytestmark = pytest.mark.cluster

SERVER = ("import http.server, socket\n"
          "class H(http.server.BaseHTTPRequestHandler):\n"
          "    def do_GET(self):\n"
          "        body = socket.gethostname().encode()\n"
          "        self.send_response(200); self.send_header('Content-Length', str(len(body)))\n"
          "        self.end_headers(); self.wfile.write(body)\n"
          "    def log_message(self, *a): pass\n"
          "http.server.ThreadingHTTPServer(('', 8080), H).serve_forever()")


def web_manifests():
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                      "terminationGracePeriodSeconds": 5,
                      "containers": [{"name": "web", "image": IMAGE, "command": ["python", "-c", SERVER],
                                      "ports": [{"name": "http", "containerPort": 8080}],
                                      "readinessProbe": {"httpGet": {"port": "http", "path": "/"},
                                                         "periodSeconds": 1}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
         "spec": {"type": "LoadBalancer", "selector": {"app": "web"},
                  "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
    ]


def ready_pods(kubectl, ns, selector):
    pods = get(kubectl, "pods", "-n", ns, "-l", selector).get("items", [])
    return sorted(p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp")
                  and {c["type"]: c["status"] for c in p["status"].get("conditions") or []}.get("Ready") == "True")


def test_deployment_service_dns_and_replacement(kubectl, namespace):
    apply(kubectl, namespace, web_manifests())
    kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=90s", timeout=120)
    pods = wait_for(lambda: len(r := ready_pods(kubectl, namespace, "app=web")) == 2 and r, "2 ready pods")
    cluster_ip = get(kubectl, "service", "web", "-n", namespace)["spec"]["clusterIP"]

    # The host reaches the ClusterIP; round-robin spreads requests over both pods.
    seen = wait_for(lambda: {urllib.request.urlopen(f"http://{cluster_ip}/", timeout=5).read().decode()
                             for _ in range(6)} == set(pods) or None,
                    "both endpoints behind the ClusterIP", 30)
    assert seen
    # So does its NodePort, on the node's address (the host's loopback), and the address the
    # load balancer published in the Service's status.
    node_port = get(kubectl, "service", "web", "-n", namespace)["spec"]["ports"][0]["nodePort"]
    answer = wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{node_port}/", timeout=5).read().decode(),
                      "the NodePort to answer", 30)
    assert answer in pods
    ingress = wait_for(lambda: get(kubectl, "service", "web", "-n", namespace)["status"].get("loadBalancer", {}).get("ingress"),
                       "a load balancer address", 30)
    lb_ip = ingress[0]["ip"]
    assert lb_ip != cluster_ip
    assert urllib.request.urlopen(f"http://{lb_ip}/", timeout=5).read().decode() in pods

    # A third pod reaches it by every DNS form and by ClusterIP.
    names = ["web", f"web.{namespace}", f"web.{namespace}.svc", f"web.{namespace}.svc.cluster.local", cluster_ip]
    script = ("import json, sys, urllib.request\n"
              "print(json.dumps({n: urllib.request.urlopen(f'http://{n}:80/', timeout=5).read().decode() for n in sys.argv[1:]}))")
    kubectl("run", "client", "-n", namespace, "--restart=Never", f"--image={IMAGE}", "--command", "--",
            "python", "-c", script, *names)
    assert wait_phase(kubectl, namespace, "client", {"Succeeded", "Failed"}) == "Succeeded", \
        kubectl("logs", "-n", namespace, "client", check=False).stdout
    answers = json.loads(kubectl("logs", "-n", namespace, "client").stdout)
    assert set(answers) == set(names) and set(answers.values()) <= set(pods)

    # Deleting a pod gets it replaced.
    kubectl("delete", "pod", pods[0], "-n", namespace, "--wait=true", timeout=60)
    now = wait_for(lambda: len(r := ready_pods(kubectl, namespace, "app=web")) == 2 and pods[0] not in r and r,
                   "a replacement pod")
    assert pods[1] in now

    # Deleting the Deployment garbage-collects its ReplicaSet and pods.
    kubectl("delete", "deployment", "web", "-n", namespace)
    wait_for(lambda: not get(kubectl, "replicasets", "-n", namespace).get("items")
             and not get(kubectl, "pods", "-n", namespace, "-l", "app=web").get("items"),
             "ReplicaSet and pods to be garbage-collected", 60)


def test_service_without_ready_endpoints_refuses_connections(kubectl, namespace):
    apply(kubectl, namespace, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nobody"},
                               "spec": {"selector": {"app": "none"}, "ports": [{"port": 81}]}})
    ip = get(kubectl, "service", "nobody", "-n", namespace)["spec"]["clusterIP"]
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://{ip}:81/", timeout=5)


def test_namespace_deletion_finishes(kubectl):
    ns = "t-ns-deletion"
    kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=true", timeout=120)
    kubectl("create", "namespace", ns)
    wait_for(lambda: kubectl("get", "sa", "default", "-n", ns, check=False).returncode == 0, "default SA")
    kubectl("run", "sleeper", "-n", ns, f"--image={IMAGE}", "--command", "--", "sleep", "600")
    wait_phase(kubectl, ns, "sleeper", {"Running"})
    kubectl("delete", "namespace", ns, "--wait=true", timeout=120)
    assert kubectl("get", "namespace", ns, check=False).returncode != 0


def test_unsatisfiable_node_selector_stays_pending(kubectl, namespace):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nowhere"},
           "spec": {"nodeSelector": {"disktype": "unobtainium"},
                    "containers": [{"name": "main", "image": IMAGE, "command": ["sleep", "60"]}]}}
    apply(kubectl, namespace, pod)
    event = wait_for(lambda: [e for e in events(kubectl, namespace, "nowhere") if e["reason"] == "FailedScheduling"],
                     "a FailedScheduling event")
    assert "node affinity" in event[0]["message"] or "selector" in event[0]["message"]
    pod = get(kubectl, "pod", "nowhere", "-n", namespace)
    assert pod["status"]["phase"] == "Pending" and not pod["spec"].get("nodeName")


def test_big_resource_requests_schedule(kubectl, namespace):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bigmem"},
           "spec": {"restartPolicy": "Never", "containers": [{
               "name": "main", "image": IMAGE, "command": ["true"],
               "resources": {"requests": {"memory": "32Gi", "cpu": "4"}, "limits": {"memory": "32Gi"}}}]}}
    apply(kubectl, namespace, pod)
    assert wait_phase(kubectl, namespace, "bigmem", {"Succeeded", "Failed"}) == "Succeeded"


def test_pod_serviceaccount_token_and_rbac(kubectl, namespace):
    kubectl("create", "serviceaccount", "reader", "-n", namespace)
    script = ("import json, os, ssl, urllib.request, urllib.error\n"
              "d = '/var/run/secrets/kubernetes.io/serviceaccount/'\n"
              "ns = open(d + 'namespace').read()\n"
              "ctx = ssl.create_default_context(cafile=d + 'ca.crt')\n"
              "url = f\"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ['KUBERNETES_SERVICE_PORT']}/api/v1/namespaces/{ns}/pods\"\n"
              "req = urllib.request.Request(url, headers={'Authorization': 'Bearer ' + open(d + 'token').read()})\n"
              "try:\n"
              "    print(json.dumps({'code': urllib.request.urlopen(req, context=ctx).status, 'ns': ns}))\n"
              "except urllib.error.HTTPError as e:\n"
              "    print(json.dumps({'code': e.code, 'ns': ns, 'message': json.loads(e.read())['message']}))")

    def attempt(name):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
               "spec": {"serviceAccountName": "reader", "restartPolicy": "Never",
                        "containers": [{"name": "main", "image": IMAGE, "command": ["python", "-c", script]}]}}
        apply(kubectl, namespace, pod)
        assert wait_phase(kubectl, namespace, name, {"Succeeded", "Failed"}) == "Succeeded"
        return json.loads(kubectl("logs", "-n", namespace, name).stdout)

    denied = attempt("before")
    assert denied["code"] == 403 and denied["ns"] == namespace
    assert f"system:serviceaccount:{namespace}:reader" in denied["message"]
    kubectl("create", "role", "pod-reader", "-n", namespace, "--verb=list,get", "--resource=pods")
    kubectl("create", "rolebinding", "reader", "-n", namespace, "--role=pod-reader",
            f"--serviceaccount={namespace}:reader")
    assert attempt("after")["code"] == 200
