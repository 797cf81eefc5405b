/**
 * deploy/crds-networking.yaml is what src/k8s/networking-crds.ts renders (UPDATE_GOLDEN=1
 * rewrites it); its schemas are structural and keep unknown fields at every object; its served
 * versions are ones meshd's parser reads and its source watches; deploy/webhooks.yaml and
 * deploy/rbac.yaml cover every kind meshd reads from a custom resource.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { REPO_ROOT, UPDATE_GOLDEN } from '../../helpers/golden.js';
import { apiVersionsOf, isCustomResourceKind } from '../../../src/config/parse.js';
import { NETWORKING_CRDS, crdObject, renderNetworkingCrds } from '../../../src/k8s/networking-crds.js';
import { RESOURCES } from '../../../src/k8s/source.js';

const FILE = join(REPO_ROOT, 'deploy', 'crds-networking.yaml');
const deploy = (name: string): Record<string, any>[] => YAML.parseAllDocuments(readFileSync(join(REPO_ROOT, 'deploy', name), 'utf8')).map((d) => d.toJS() as Record<string, any>);

test('deploy/crds-networking.yaml is rendered from src/k8s/networking-crds.ts', () => {
  const want = renderNetworkingCrds();
  if (UPDATE_GOLDEN) writeFileSync(FILE, want);
  assert.equal(readFileSync(FILE, 'utf8'), want, 'run `npm run golden:update` after editing src/k8s/networking-crds.ts');
  // The aliases resolve to the objects the module builds.
  assert.deepEqual(deploy('crds-networking.yaml'), NETWORKING_CRDS.map((c) => JSON.parse(JSON.stringify(crdObject(c)))));
});

/** Every schema node has a type (or keeps unknown fields); every object with properties keeps unknown fields. */
function checkNode(node: Record<string, any>, path: string, problems: string[]): void {
  if (node.type === undefined && node['x-kubernetes-preserve-unknown-fields'] !== true) problems.push(`${path}: no type`);
  if (node.type === 'object' && node.additionalProperties === undefined && node['x-kubernetes-preserve-unknown-fields'] !== true) problems.push(`${path}: an object that prunes unknown fields`);
  if (node.additionalProperties && node.properties) problems.push(`${path}: properties and additionalProperties together`);
  for (const [k, v] of Object.entries(node.properties ?? {})) checkNode(v as Record<string, any>, `${path}.${k}`, problems);
  if (node.items) checkNode(node.items, `${path}[]`, problems);
  if (typeof node.additionalProperties === 'object') checkNode(node.additionalProperties, `${path}{}`, problems);
}

test('schemas are structural and keep unknown fields for the webhook to name', () => {
  const problems: string[] = [];
  for (const crd of deploy('crds-networking.yaml')) {
    for (const v of crd.spec.versions) checkNode(v.schema.openAPIV3Schema.properties.spec, `${crd.metadata.name} ${v.name} spec`, problems);
  }
  assert.deepEqual(problems, []);
});

test('served versions: read by the parser and watched by the source, the stored one first; the status subresource on each', () => {
  for (const crd of deploy('crds-networking.yaml')) {
    const kind = crd.spec.names.kind as string;
    const versions = crd.spec.versions.map((v: { name: string }) => `${crd.spec.group}/${v.name}`);
    const read = apiVersionsOf(kind);
    for (const v of versions) assert.ok(read.includes(v), `${kind}: ${v} is read by parseObject`);
    assert.equal(versions[0], read[0], `${kind}: the stored version is the one meshd prefers`);
    assert.deepEqual(crd.spec.versions.map((v: { storage: boolean }) => v.storage), versions.map((_: string, i: number) => i === 0));
    const watched = RESOURCES.find((r) => r.kind === kind);
    assert.ok(watched, `${kind} is watched`);
    for (const v of crd.spec.versions) assert.ok(watched.paths.some((p) => p.path === `/apis/${crd.spec.group}/${v.name}/${crd.spec.names.plural}`), `${kind} ${v.name} watched`);
    for (const v of crd.spec.versions) assert.deepEqual(v.subresources, { status: {} });
  }
});

test('the validating webhook and the ClusterRole cover every custom resource meshd watches, at every version it reads', () => {
  const hooks = deploy('webhooks.yaml').find((d) => d.kind === 'ValidatingWebhookConfiguration')!.webhooks as { rules: { apiGroups: string[]; apiVersions: string[]; resources: string[] }[] }[];
  const rbac = deploy('rbac.yaml').find((d) => d.kind === 'ClusterRole')!.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
  const can = (group: string, resource: string, verb: string): boolean => rbac.some((r) => r.apiGroups.includes(group) && (r.resources.includes(resource) || r.resources.includes('*')) && r.verbs.includes(verb));
  const role = deploy('rbac.yaml').find((d) => d.kind === 'Role')!.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
  for (const r of RESOURCES) {
    for (const p of r.paths) {
      // One namespace's objects (the root namespace's ConfigMaps): the namespaced Role grants them.
      const ns = /^\/api\/v1\/namespaces\/[^/]+\/([^/]+)$/.exec(p.path);
      if (ns) { assert.ok(role.some((x) => x.apiGroups.includes('') && x.resources.includes(ns[1]!) && x.verbs.includes('list') && x.verbs.includes('watch')), `Role list/watch ${ns[1]}`); continue; }
      const m = /^\/apis?\/(?:([^/]+)\/)?([^/]+)\/([^/]+)$/.exec(p.path);
      assert.ok(m, p.path);
      const [, group = '', version, plural] = m;
      assert.ok(can(group, plural!, 'list') && can(group, plural!, 'watch'), `RBAC list/watch ${plural}.${group}`);
      if (!isCustomResourceKind(r.kind)) continue;
      assert.ok(hooks.some((h) => h.rules.some((x) => x.apiGroups.includes(group) && x.apiVersions.includes(version!) && x.resources.includes(plural!))), `webhook validates ${group}/${version} ${plural}`);
      assert.ok(can(group, `${plural}/status`, 'patch'), `RBAC patch ${plural}/status`);
    }
  }
});
