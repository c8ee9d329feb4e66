/**
 * An in-memory kernel that holds state, with the KernelPort's idempotency rules: adding what exists and deleting
 * what is gone succeed; a route slot held by another route is left as it is (the kernel answers EEXIST).
 */
import { Ec2netError } from '../../src/errors.js';
import { addressKey, routeKey, ruleKey, type Address, type Family, type Link, type Route, type Rule } from '../../src/model/state.js';
import type { KernelPort, KernelWatch } from '../../src/ports/kernel.js';

export class FakeKernel implements KernelPort {
  links_: Link[] = [];
  rules_: Rule[] = [];
  routes_: Route[] = [];
  addresses_: Address[] = [];
  /** Every mutating call, for tests that count work (a no-op run makes none). */
  readonly calls: string[] = [];
  /** net.ipv6.conf.IF.ra_defrtr_metric, by interface. */
  readonly raMetrics = new Map<string, number>();
  /** Interface → the router link-local whose RA arrives when the link comes up (a proto-ra main default route). */
  readonly raOnLinkUp = new Map<string, string>();
  /** Throws on the next call of this name. */
  failOn = new Set<string>();
  /** What a watch waits with when nothing changes: the fake clock's sleep (fakeContext sets it). */
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  /** Mutations so far: a watch wakes when this moves. */
  private generation = 0;

  constructor(init: Partial<Pick<FakeKernel, 'links_' | 'rules_' | 'routes_' | 'addresses_'>> = {}) {
    Object.assign(this, structuredClone(init));
  }

  private mutate(name: string): void {
    this.calls.push(name);
    this.generation++;
    if (this.failOn.delete(name)) throw new Ec2netError('PluginFailure', `injected failure in ${name}`);
  }

  private hasLink(dev: string): void {
    if (!this.links_.some((l) => l.name === dev)) throw new Ec2netError('NoSuchInterface', 'no such interface', { iface: dev });
  }

  /** Wakes at once when a mutation came since the watch began or last woke, else after `withinMs` of sleep. */
  watch(): KernelWatch {
    let seen = this.generation;
    return {
      changed: async (withinMs) => {
        if (this.generation === seen) await this.sleep(withinMs);
        seen = this.generation;
      },
      close: () => undefined,
    };
  }

  async snapshot() {
    return structuredClone({ links: this.links_, rules: this.rules_, routes: this.routes_, addresses: this.addresses_ });
  }
  async links() {
    return structuredClone(this.links_);
  }
  async rules(family: Family) {
    return this.rules_.filter((r) => r.family === family);
  }
  async routes(family: Family) {
    return this.routes_.filter((r) => r.family === family);
  }
  async addresses(family: Family) {
    return this.addresses_.filter((a) => a.family === family);
  }
  async addRule(r: Rule) {
    this.mutate('addRule');
    if (!this.rules_.some((x) => ruleKey(x) === ruleKey(r))) this.rules_.push(r);
  }
  async delRule(r: Rule) {
    this.mutate('delRule');
    this.rules_ = this.rules_.filter((x) => ruleKey(x) !== ruleKey(r));
  }
  async addRoute(r: Route) {
    this.mutate('addRoute');
    this.hasLink(r.dev);
    if (!this.routes_.some((x) => routeKey(x) === routeKey(r))) this.routes_.push(r);
  }
  async delRoute(r: Route) {
    this.mutate('delRoute');
    this.routes_ = this.routes_.filter((x) => !(routeKey(x) === routeKey(r) && x.protocol === r.protocol));
  }
  async addAddress(a: Address) {
    this.mutate('addAddress');
    this.hasLink(a.dev);
    if (!this.addresses_.some((x) => addressKey(x) === addressKey(a))) this.addresses_.push(a);
  }
  async delAddress(a: Address) {
    this.mutate('delAddress');
    this.addresses_ = this.addresses_.filter((x) => addressKey(x) !== addressKey(a));
  }
  async setLinkDown(name: string) {
    this.mutate('setLinkDown');
    this.hasLink(name);
    this.links_ = this.links_.map((l) => (l.name === name ? { ...l, up: false } : l));
  }
  async setLinkUp(name: string) {
    this.mutate('setLinkUp');
    this.hasLink(name);
    this.links_ = this.links_.map((l) => (l.name === name ? { ...l, up: true } : l));
    const router = this.raOnLinkUp.get(name);
    if (router) {
      const metric = this.raMetrics.get(name) ?? 1024;
      this.routes_.push({ family: 6, table: 254, dst: '::/0', dev: name, gateway: router, metric, scope: 'universe', protocol: 9 });
    }
  }
  async setRaRouteMetric(name: string, metric: number) {
    this.hasLink(name);
    if (this.raMetrics.get(name) === metric) return false;
    this.mutate('setRaRouteMetric');
    this.raMetrics.set(name, metric);
    return true;
  }
  /** net.ipv6.conf.IF.accept_ra, by interface (1, the kernel's default, when absent). */
  readonly acceptRa = new Map<string, number>();
  async acceptRaWhileForwarding(name: string) {
    this.hasLink(name);
    if ((this.acceptRa.get(name) ?? 1) !== 1) return false;
    this.mutate('acceptRaWhileForwarding');
    this.acceptRa.set(name, 2);
    return true;
  }
  hostname_ = 'localhost';
  async hostname() {
    return this.hostname_;
  }
  async setHostname(name: string) {
    this.mutate('setHostname');
    this.hostname_ = name;
  }
  async addAltname(name: string, altname: string) {
    this.mutate('addAltname');
    this.hasLink(name);
    if (this.links_.some((l) => l.altnames.includes(altname))) return;
    this.links_ = this.links_.map((l) => (l.name === name ? { ...l, altnames: [...l.altnames, altname] } : l));
  }
  close() {}
}
