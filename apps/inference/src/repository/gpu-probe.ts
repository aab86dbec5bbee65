import { existsSync } from 'node:fs';

/** True where an NVIDIA driver is present; GPU providers are refused elsewhere (no silent CPU fallback). */
export function nvidiaGpuPresent(): boolean {
  return existsSync('/dev/nvidiactl') || existsSync('/proc/driver/nvidia/version');
}
