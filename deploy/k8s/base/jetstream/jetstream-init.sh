#!/bin/sh
# Creates (or raises to R3) every JetStream stream, KV bucket and object bucket of cvp before the
# services start. The services create them too when missing, but at one replica: pre-created ones
# are left as they are, so this one-shot job is what puts them at R3 in a cluster.
# Runs in the nats-box image (the `nats` CLI; tested with natscli 0.5.0 against a 3-node
# nats-server cluster); idempotent, so it runs on every start and upgrade.
#   NATS_URL                 the cluster (default nats://nats:4222)
#   CVP_JS_CONFIG_DIR        the stream configs, one <STREAM>.json each with num_replicas 3
#                            (default: jetstream/ next to this script)
#   CVP_GPU_LEASE_BUCKET     the lease KV bucket (default CVP_GPU_LEASES)
#   CVP_ARTIFACTS_BUCKET     the artifact object bucket (default cvp-artifacts)
set -eu
export NATS_URL="${NATS_URL:-nats://nats:4222}"
# Raising a stream to R3 waits for its new replicas to catch up; on a busy host that can pass the
# CLI's 5 s default for a response.
export NATS_TIMEOUT="${NATS_TIMEOUT:-30s}"
replicas=3
dir="${CVP_JS_CONFIG_DIR:-$(dirname "$0")/jetstream}"
leases="${CVP_GPU_LEASE_BUCKET:-CVP_GPU_LEASES}"
artifacts="${CVP_ARTIFACTS_BUCKET:-cvp-artifacts}"

# A fresh cluster elects its JetStream meta leader a few seconds after the servers are up: wait for
# it, bounded (60 x 2 s), so a broken cluster fails this job instead of hanging it.
i=0
until nats account info >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -ge 60 ]; then
    echo "JetStream not available at $NATS_URL after 120 s" >&2
    exit 1
  fi
  sleep 2
done

for f in "$dir"/*.json; do
  name=$(basename "$f" .json)
  if nats stream info "$name" >/dev/null 2>&1; then
    # brings a stream made by a single-node install (R1) to the cluster's replica count
    nats stream edit "$name" --config "$f" -f >/dev/null
  else
    nats stream add "$name" --config "$f" >/dev/null
  fi
  echo "stream $name: R$replicas"
done

# (`nats stream edit` on a bucket's stream asks for a confirmation no script can give: edit the bucket)
if nats kv info "$leases" >/dev/null 2>&1; then
  nats kv edit "$leases" --history 64 --replicas "$replicas" >/dev/null
else
  nats kv add "$leases" --history 64 --storage file --replicas "$replicas" >/dev/null
fi
echo "kv $leases: R$replicas"

if nats object info "$artifacts" >/dev/null 2>&1; then
  nats object edit "$artifacts" --replicas "$replicas" >/dev/null
else
  nats object add "$artifacts" --storage file --replicas "$replicas" >/dev/null
fi
echo "object store $artifacts: R$replicas"
