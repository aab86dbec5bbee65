import { type BundleSpec, HEALTH_PROBE_JS, INFERENCE_PORT } from './bundle-spec';

/** Config keys a deployer tunes, with their defaults (apps/inference/src/config.ts); shared by the compose file, .env.example and DEPLOY.md. */
export const TUNABLES: { key: string; def: string; doc: string }[] = [
  {
    key: 'CVP_PUBLISH_PORT',
    def: String(INFERENCE_PORT),
    doc: 'host port the compose file publishes the data plane on',
  },
  { key: 'CVP_INFER_WORKERS', def: '10', doc: 'worker pool size: requests computed at once' },
  {
    key: 'CVP_INFER_QUEUE_CAP',
    def: '256',
    doc: 'requests waiting for a worker before new ones get 429 + Retry-After',
  },
  { key: 'CVP_INFER_DEADLINE_MS', def: '30000', doc: 'per-request deadline: queue wait plus run time' },
  { key: 'CVP_INFER_MAX_BODY_MB', def: '64', doc: 'request body cap (tensors or image)' },
  { key: 'CVP_LOG_LEVEL', def: 'info', doc: 'fatal|error|warn|info|debug|trace|silent' },
];

/**
 * docker-compose.yml of a bundle (Compose specification, no `version:` key, which Compose v2 and
 * docker-compose 1.29 both read). Values are interpolated from the environment or `.env` with
 * the defaults above, so `docker compose up` works with no .env at all.
 */
export function composeFile(spec: BundleSpec): string {
  const env = TUNABLES.filter((t) => t.key !== 'CVP_PUBLISH_PORT')
    .map((t) => `      ${t.key}: "\${${t.key}:-${t.def}}"`)
    .join('\n');
  const gpu =
    spec.variant === 'cuda'
      ? `
    # One GPU per replica (NVIDIA Container Toolkit on the host).
    deploy:
      resources:
        reservations:
          devices:
            - driver: nvidia
              count: 1
              capabilities: [gpu]`
      : '';
  return `# cvp bundle: model "${spec.modelName}" (model ${spec.modelId} v${spec.modelVersion}), engine ${spec.engine}, ${spec.variant.toUpperCase()} image.
# Start: docker compose up -d --build     Check: curl -fsS http://127.0.0.1:\${CVP_PUBLISH_PORT:-${INFERENCE_PORT}}/v2/health/ready
# Settings: copy .env.example to .env and edit; see DEPLOY.md.
services:
  inference:
    build:
      context: .
      dockerfile: Dockerfile.${spec.variant}
    image: ${spec.imageTag}-${spec.variant}
    init: true
    restart: unless-stopped
    stop_grace_period: 20s
    ports:
      - "\${CVP_PUBLISH_PORT:-${INFERENCE_PORT}}:${INFERENCE_PORT}"
    environment:
      CVP_INFERENCE_PORT: "${INFERENCE_PORT}"
${env}
    volumes:
      - inference-data:/var/lib/cvp
    healthcheck:
      test: ["CMD", "node", "-e", "${HEALTH_PROBE_JS}"]
      interval: 10s
      timeout: 3s
      retries: 3
      start_period: 60s${gpu}

volumes:
  inference-data:
`;
}

export function envExample(spec: BundleSpec): string {
  const lines = [
    `# cvp bundle settings (model "${spec.modelName}"). Copy to .env; docker compose and run.sh read these.`,
    '# Every key is optional: the value shown is the default.',
    '',
  ];
  for (const t of TUNABLES) lines.push(`# ${t.doc}`, `${t.key}=${t.def}`, '');
  lines.push(
    '# run.sh only: port the data plane listens on, and its address (0.0.0.0 to listen on all interfaces)',
    `CVP_INFERENCE_PORT=${INFERENCE_PORT}`,
    'CVP_HOST=127.0.0.1',
    "# run.sh only: reuse an existing node_modules instead of npm ci (e.g. the platform checkout's)",
    '# NODE_PATH=/srv/cvp/node_modules',
    '# run.sh only, engine native: a prebuilt core binary instead of building native/',
    '# CVP_NATIVE_BIN=/usr/local/bin/cvp-core',
    '',
  );
  return lines.join('\n');
}
