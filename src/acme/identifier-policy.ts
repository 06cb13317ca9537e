/**
 * Which identifiers an account may order, from `acme.policies` in hearth.yaml. An account gets
 * the policy its external account binding key named, else `acme.defaultPolicy`. DNS patterns are
 * exact names, `*.suffix` for any name below the suffix (at any depth, not the suffix itself), or
 * `*` for any name.
 */
import type { AcmeIdentifier } from '../store/store.js';
import { AcmeError } from './acme-error.js';

export interface IdentifierPolicyConfig {
  identifierTypes: readonly string[];
  dnsNames: readonly string[];
}

export class IdentifierPolicy {
  private readonly exact: ReadonlySet<string>;
  private readonly suffixes: readonly string[];
  private readonly anyName: boolean;

  constructor(
    readonly name: string,
    private readonly config: IdentifierPolicyConfig,
  ) {
    const patterns = config.dnsNames.map((p) => p.toLowerCase());
    this.anyName = patterns.includes('*');
    this.suffixes = patterns.filter((p) => p.startsWith('*.')).map((p) => p.slice(1));
    this.exact = new Set(patterns.filter((p) => !p.startsWith('*')));
  }

  /** Throws the RFC 8555 error a refused identifier gets; identifiers arrive lower-cased and checked as DNS names. */
  check(identifier: AcmeIdentifier): void {
    if (!this.config.identifierTypes.includes(identifier.type)) {
      throw new AcmeError('unsupportedIdentifier', `this account's policy (${this.name}) does not allow ${identifier.type} identifiers`);
    }
    // A device identifier is authorized by its attestation, not by a name pattern.
    if (identifier.type === 'permanent-identifier') return;
    const name = identifier.value;
    if (this.anyName || this.exact.has(name) || this.suffixes.some((suffix) => name.endsWith(suffix))) return;
    throw new AcmeError('rejectedIdentifier', `this account's policy (${this.name}) does not allow ${name}`);
  }
}

export class IdentifierPolicies {
  private readonly byName: ReadonlyMap<string, IdentifierPolicy>;

  constructor(
    policies: Readonly<Record<string, IdentifierPolicyConfig>>,
    private readonly defaultName: string,
  ) {
    this.byName = new Map(Object.entries(policies).map(([name, config]) => [name, new IdentifierPolicy(name, config)]));
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The account's policy; one that hearth.yaml no longer has admits nothing, and says so. */
  forAccount(policyName: string | null): IdentifierPolicy {
    const name = policyName ?? this.defaultName;
    const policy = this.byName.get(name);
    if (!policy) throw new AcmeError('unauthorized', `this account's identifier policy "${name}" is not configured on this server`);
    return policy;
  }
}
