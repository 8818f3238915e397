import { structuralHash } from '../ir/hash.js';
import type { DeviceInfo } from '../runtime/device.js';

/**
 * Device fingerprints: a tuning result is only valid on the device it was measured on, so the
 * tuning database keys every entry by a short hash of everything that identifies the device and
 * bounds what its kernels may do. A driver update that changes a limit or a reported feature
 * changes the fingerprint, and the old results stop matching instead of silently misleading.
 */

/** 16 hex digits identifying a device: its backend, names, sorted features, limits and extras. */
export function deviceFingerprint(info: DeviceInfo): string {
  return structuralHash({
    backend: info.backend,
    name: info.name,
    vendor: info.vendor,
    architecture: info.architecture,
    description: info.description,
    // adapters list features in no promised order; the set is what identifies the device
    features: [...new Set(info.features)].sort(),
    limits: info.limits,
    extra: info.extra,
  });
}

/** A one-line description for people: `NVIDIA H200 (cuda, nvidia, hopper; computeCapability=9.0, driver=550.54)`. */
export function deviceSummary(info: DeviceInfo): string {
  const title = info.name || info.description || 'unnamed device';
  const kind = [info.backend, info.vendor, info.architecture].filter((s) => s !== '').join(', ');
  const extras = Object.keys(info.extra)
    .sort()
    .map((k) => `${k}=${String(info.extra[k])}`);
  return extras.length > 0 ? `${title} (${kind}; ${extras.join(', ')})` : `${title} (${kind})`;
}
