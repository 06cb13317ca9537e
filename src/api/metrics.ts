/** Prometheus metrics of one control-plane instance (its own registry, so tests can run several). */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class ControlPlaneMetrics {
  readonly registry = new Registry();
  readonly issued = new Counter({ name: 'hearth_certificates_issued_total', help: 'Certificates issued', labelNames: ['profile'], registers: [this.registry] });
  readonly revoked = new Counter({
    name: 'hearth_certificates_revoked_total',
    help: 'Certificates revoked',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly ocsp = new Counter({ name: 'hearth_ocsp_responses_total', help: 'OCSP responses by outcome', labelNames: ['outcome'], registers: [this.registry] });
  readonly refusals = new Counter({
    name: 'hearth_api_refusals_total',
    help: 'REST API callers refused, by problem type (unauthorized, token-expired, forbidden, not-a-member, rate-limited, ...)',
    labelNames: ['type'],
    registers: [this.registry],
  });
  readonly oauthRefusals = new Counter({
    name: 'hearth_oauth_refusals_total',
    help: 'OAuth requests refused, by endpoint and OAuth error (invalid_grant, invalid_client, invalid_scope, ...)',
    labelNames: ['endpoint', 'error'],
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'hearth_http_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['server', 'route', 'status'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
