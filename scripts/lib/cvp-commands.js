'use strict';
/**
 * The `cvp` command lines that repeat what the demo did (import, bench, deploy, infer), printed at
 * the end of the demo so the next step is a command to paste rather than a curl.
 */

/**
 * @param {{gatewayUrl: string, adminUsername: string, modelId: string, benchmarkId?: string|null, imageFile?: string,
 *   datasetZip?: string, datasetId?: string, epochs?: number, imgsz?: number}} o
 * @returns {string[]}
 */
function cvpCommandsFor(o) {
  const url = o.gatewayUrl.replace(/\/+$/, '');
  const at = url === 'http://127.0.0.1:3000' ? '' : ` --url ${url}`;
  const ds = o.datasetId ?? 'DATASET_ID';
  const imgsz = o.imgsz ? ` --imgsz ${o.imgsz}` : '';
  return [
    `npx cvp login -u ${o.adminUsername}${at}  # asks for the password; the session is kept and refreshed`,
    ...(o.datasetZip ? [`npx cvp datasets upload ${o.datasetZip} --format yolo`] : []),
    `npx cvp models preset yolov8n --watch`,
    ...(o.datasetZip
      ? [`npx cvp train --model ${o.modelId} --dataset ${ds} --epochs ${o.epochs ?? 10}${imgsz} --watch`]
      : []),
    `npx cvp bench --model ${o.modelId}${o.datasetZip ? ` --dataset ${ds}` : ''} --max-p95-ms 500 --max-accuracy-drop 0.01 --watch`,
    ...(o.benchmarkId ? [`npx cvp benchmarks show ${o.benchmarkId}`] : []),
    `npx cvp deploy --model ${o.modelId} --engine selected --wait`,
    `npx cvp infer ${o.imageFile ?? 'IMAGE.jpg'} --model ${o.modelId}${imgsz}`,
    `npx cvp package --model ${o.modelId} --watch --download ./bundle`,
    `npx cvp tui  # live jobs, GPU leases, deployments with traffic`,
  ];
}

/** Logs the commands under one heading, each line through `log` (the supervisor's logger). */
function printCvpCommands(log, o) {
  log('demo: the same with the cvp command (docs/cli.md):');
  for (const line of cvpCommandsFor(o)) log(`demo:   ${line}`);
}

module.exports = { cvpCommandsFor, printCvpCommands };
