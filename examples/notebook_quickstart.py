# %% [markdown]
# # Dask on Kubernetes from a notebook, with `KubeCluster`
#
# A notebook-style script (cells separated by `# %%`; open it in Jupyter with jupytext or in
# VS Code, or run it top to bottom with `python examples/notebook_quickstart.py`).
#
# You need a Kubernetes cluster with the Dask Operator installed, and credentials for it:
#
# ```bash
# helm install --repo https://helm.dask.org --create-namespace -n dask-operator \
#     --generate-name dask-kubernetes-operator        # or: helm install ... chart/
# export KUBECONFIG=~/.kube/config                    # the local cluster: ci/cluster up
# ```
#
# The namespace is the one of your kubeconfig context; set `DASK_KUBERNETES__NAMESPACE` (or
# pass `namespace=`) to use another one.

# %%
import dask.bag as db
from dask.distributed import Client

from dask_kubernetes.operator import KubeCluster, make_worker_spec

# %% [markdown]
# ## Create a cluster
#
# `KubeCluster` creates a `DaskCluster` resource; the operator starts the scheduler and the
# workers. The call returns once the scheduler is ready, printing what it waits for.

# %%
cluster = KubeCluster(name="quickstart", n_workers=1)
cluster  # noqa: B018 - in Jupyter this shows the cluster widget, with the dashboard link

# %%
print("scheduler:", cluster.scheduler_address)
print("dashboard:", cluster.dashboard_link)

# %% [markdown]
# ## Compute

# %%
client = Client(cluster)
squares = db.from_sequence(range(1_000), npartitions=8).map(lambda x: x * x)
total = squares.sum().compute()
print("sum of squares:", total)
assert total == sum(x * x for x in range(1_000))

# %% [markdown]
# ## Scale by hand
#
# `scale` changes the default worker group's `replicas`; the operator adds or retires workers.

# %%
cluster.scale(2)
client.wait_for_workers(2, timeout=300)
print("workers:", len(client.scheduler_info()["workers"]))

# %% [markdown]
# ## An extra worker group
#
# Groups have their own image, resources and size. `make_worker_spec` builds the worker spec
# when you want to tweak the pod spec yourself.

# %%
cluster.add_worker_group(name="highmem", n_workers=1, resources={"requests": {"memory": "256Mi"}})
spec = make_worker_spec(cluster_name=cluster.name, n_workers=0)
spec["spec"]["containers"][0]["env"] = [{"name": "WORKER_KIND", "value": "tweaked"}]
tweaked = cluster.add_worker_group(name="tweaked", custom_spec=spec)
client.wait_for_workers(3, timeout=300)
print("workers with the highmem group:", len(client.scheduler_info()["workers"]))

# %%
cluster.delete_worker_group(name="highmem")
cluster.delete_worker_group(name=tweaked)

# %% [markdown]
# ## Adaptive scaling
#
# `adapt` creates a `DaskAutoscaler`: the operator asks the scheduler how many workers it
# wants and scales between the bounds. `scale` turns it off again.

# %%
cluster.adapt(minimum=1, maximum=3)
print(db.from_sequence(range(100), npartitions=4).map(lambda x: x + 1).sum().compute())
cluster.scale(1)

# %% [markdown]
# ## Logs of every pod

# %%
for pod, log in cluster.get_logs().items():
    print(f"--- {pod}: {len(log.splitlines())} lines")

# %% [markdown]
# ## Connect from elsewhere, then clean up
#
# Another notebook (or a job) can attach to the running cluster by name; closing that object
# leaves the cluster alone. Closing the object that created it deletes the `DaskCluster`.

# %%
same = KubeCluster.from_name("quickstart")
assert same == cluster
same.close()

client.close()
cluster.close()
