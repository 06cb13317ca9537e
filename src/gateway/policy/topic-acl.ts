/**
 * What a device may publish and subscribe to. A device owns `hearth/<device-id>/…`: it publishes
 * anywhere below it and subscribes only below `hearth/<device-id>/cmd/`. A model may add shared
 * topics for the home's automations. A quarantined device is held to its update topics: it may
 * report under `hearth/<device-id>/update/…`, hear `hearth/<device-id>/cmd/update/…` and acknowledge
 * that command on `hearth/<device-id>/cmd/update/ack`, nothing else. A device acknowledges a command
 * `hearth/<device-id>/cmd/<name>` on `…/cmd/<name>/ack`, which is in its own tree.
 */
import { parseDeviceId } from '../../pki/device-id.js';
import { filterWithin, topicMatches } from './topic-filter.js';

export interface SharedTopics {
  /** Topic filters a device of this model may publish to, besides its own tree. */
  publish: readonly string[];
  /** Topic filters a device of this model may subscribe to (exactly, or narrower), besides its commands. */
  subscribe: readonly string[];
}

export type AclDecision = { allowed: true } | { allowed: false; reason: string };

const ALLOWED: AclDecision = { allowed: true };

export class TopicAcl {
  constructor(
    /** Keyed by `<vendor>-<model>`, the model part of a device identifier. */
    private readonly sharedByModel: ReadonlyMap<string, SharedTopics> = new Map(),
    private readonly isQuarantined: (deviceId: string) => boolean = () => false,
  ) {}

  static own(deviceId: string): string {
    return `hearth/${deviceId}`;
  }

  mayPublish(deviceId: string, topic: string): AclDecision {
    const own = TopicAcl.own(deviceId);
    if (this.isQuarantined(deviceId)) {
      // It may also acknowledge the update command it hears (docs/gateway.md, downlink).
      return topicMatches(`${own}/update/#`, topic) || topic === `${own}/cmd/update/ack`
        ? ALLOWED
        : { allowed: false, reason: 'a quarantined device may publish only under its update topic and acknowledge its update command' };
    }
    if (topic.startsWith(`${own}/`)) return ALLOWED;
    if (this.shared(deviceId)?.publish.some((filter) => topicMatches(filter, topic))) return ALLOWED;
    return { allowed: false, reason: `a device publishes only under ${own}/` };
  }

  maySubscribe(deviceId: string, filter: string): AclDecision {
    const own = TopicAcl.own(deviceId);
    if (this.isQuarantined(deviceId)) {
      return filterWithin(filter, `${own}/cmd/update`) ? ALLOWED : { allowed: false, reason: 'a quarantined device may subscribe only to its update topic' };
    }
    if (filterWithin(filter, `${own}/cmd`)) return ALLOWED;
    if (this.shared(deviceId)?.subscribe.some((allowed) => filter === allowed || filterNarrower(filter, allowed))) return ALLOWED;
    return { allowed: false, reason: `a device subscribes only below ${own}/cmd/` };
  }

  private shared(deviceId: string): SharedTopics | undefined {
    try {
      const { vendor, model } = parseDeviceId(deviceId);
      return this.sharedByModel.get(`${vendor}-${model}`);
    } catch {
      return undefined; // a client that is not a device (a sensor token subject) has no model
    }
  }
}

/** Whether every topic `filter` matches is also matched by `wider`: compared level by level. */
function filterNarrower(filter: string, wider: string): boolean {
  const f = filter.split('/');
  const w = wider.split('/');
  for (let i = 0; i < w.length; i++) {
    if (w[i] === '#') return true;
    if (i >= f.length) return false;
    if (f[i] === '#') return false;
    if (w[i] === '+') continue;
    if (f[i] !== w[i]) return false;
  }
  return f.length === w.length;
}
