import { type BundleSpec, INFERENCE_PORT, MODEL_CONFIG } from './bundle-spec';
import { TUNABLES } from './compose';

/** DEPLOY.md: run, configure workers and queue, scale, read metrics, verify. */
export function deploymentGuide(spec: BundleSpec): string {
  const url = `http://127.0.0.1:${INFERENCE_PORT}`;
  return `# Deploying "${spec.modelName}"

A self-contained bundle made by the cvp packager: model ${spec.modelId} version ${spec.modelVersion}
(${spec.task}), served by the **${spec.engine}** engine (${spec.options.provider}, ${spec.options.precision},
graph optimization ${spec.options.graphOptimization}, ${spec.options.instances ?? 1} instance(s) x ${spec.options.threads || 'auto'} thread(s), max batch ${spec.options.maxBatch})
on the cvp data plane ${spec.platformVersion}, which speaks KServe v2 / Open Inference Protocol.

Addressing: the model is served as \`/v2/models/${spec.modelId}\`, the name the platform serves it under, so
a client written against the platform works unchanged${spec.modelName !== spec.modelId ? `; \`/v2/models/${spec.modelName}\` (its name) is an alias of it` : ''}.

Why this engine: ${spec.decisionSummary}

## Contents

| path | what |
|---|---|
| \`Dockerfile.cpu\`, \`Dockerfile.cuda\` | multi-stage images on node:20 bookworm (CUDA: ONNX Runtime's GPU build with its CUDA libraries, from PyPI), non-root, HEALTHCHECK on /v2/health/ready |
| \`docker-compose.yml\` | the ${spec.variant} service with ports, settings, health check, restart policy${spec.variant === 'cuda' ? ', GPU reservation' : ''} |
| \`entrypoint.sh\` | the one start-up script, used by both images and by run.sh |
| \`run.sh\` | starts the bundle without Docker where node >= 20 is installed |
| \`${spec.modelFile}\`, \`${MODEL_CONFIG}\`, \`model/engine.json\` | the model, the deployment loaded at start-up, the engine config |
| \`reports/\` | benchmark report and decision record (when the engine came from a benchmark) |
| \`app/\` | the compiled data plane, its package.json and pruned lockfile (production dependencies only) |
| \`native/\` | sources of the C++ core, built inside the image |
| \`gpu-ort/\` | the platform's scripts/gpu-ort.sh and its hash-pinned locks: the CUDA image's ONNX Runtime GPU build |
| \`MANIFEST.sha256\` | SHA-256 of every file |

## Verify

\`\`\`sh
sha256sum -c MANIFEST.sha256
\`\`\`

## Run with Docker

\`\`\`sh
cp .env.example .env            # optional; every setting has a default
docker compose up -d --build    # builds Dockerfile.${spec.variant}
curl -fsS ${url}/v2/health/ready
curl -fsS -H 'content-type: image/jpeg' --data-binary @image.jpg ${url}/v2/models/${spec.modelId}/detect
\`\`\`

Without compose: \`docker build -f Dockerfile.cpu -t ${spec.imageTag}-cpu . && docker run --init -p 8000:8000 ${spec.imageTag}-cpu\`
(for the CUDA image add \`--gpus 1\`; the host needs the NVIDIA Container Toolkit).

## Run without Docker

\`\`\`sh
./run.sh                                   # npm ci --omit=dev --offline from the local npm cache, then starts
CVP_BUNDLE_ONLINE=1 ./run.sh               # same, allowed to reach the npm registry
NODE_PATH=/srv/cvp/node_modules ./run.sh   # reuse an existing install of the same versions
\`\`\`

run.sh listens on 127.0.0.1:${INFERENCE_PORT} by default (CVP_HOST, CVP_INFERENCE_PORT change that). It reads
\`.env\` when present, for settings the environment does not already set.
${spec.engine === 'native' ? 'Engine native: run.sh builds native/ with cmake once (packages: see the `native` stage of Dockerfile.cpu), or uses CVP_NATIVE_BIN.\n' : ''}
## Configure workers and queue

Admission is bounded: at most CVP_INFER_WORKERS requests compute at once, at most CVP_INFER_QUEUE_CAP
wait; beyond that the service answers 429 with Retry-After at once. Set these in \`.env\` (compose) or the
environment (run.sh):

| setting | default | meaning |
|---|---|---|
${TUNABLES.map((t) => `| \`${t.key}\` | ${t.def} | ${t.doc.replace(/\|/g, '\\|')} |`).join('\n')}

Workers beyond the number of cores (CPU) or one GPU's capacity add queueing, not throughput: size
CVP_INFER_WORKERS from the benchmark report's concurrency sweep (\`reports/\`).

## Scale

- More replicas on one host: remove the fixed host port from docker-compose.yml and put a reverse proxy
  (nginx, Traefik, HAProxy) in front, then \`docker compose up -d --scale inference=3\`.
- Several hosts: run one container per host (CUDA: one per GPU, each with its own reservation) behind a
  load balancer that routes only to replicas whose \`/v2/health/ready\` answers 200; the data plane is
  stateless, so any replica can take any request.
- A replica answers 429 under overload instead of queueing without bound: let the load balancer retry
  another replica on 429.

## Read metrics

Prometheus text format at \`${url}/metrics\`: request, queue-wait and compute-time histograms per
model, in-flight and queued requests, rejections (429), and process metrics (CPU, memory, event loop).
Scrape it with:

\`\`\`yaml
scrape_configs:
  - job_name: cvp-bundle-${spec.modelName}
    static_configs: [{ targets: ["<host>:${INFERENCE_PORT}"] }]
\`\`\`

Per-model counters are also at \`${url}/v2/models/${spec.modelId}/stats\`.
`;
}
