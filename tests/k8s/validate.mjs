// Offline validation of the Kubernetes manifests in k8s/ (no API server needed):
//   - every object of every manifest is checked against the Kubernetes API schema of its kind
//     (kubernetes-models, generated from the upstream OpenAPI definitions);
//   - every ChorusCluster is checked against the openAPIV3Schema of our CRD (ajv);
//   - the kustomization names exactly the manifests that exist, and each object has the fields
//     the design relies on (checked below, with the reason).
// Usage: node tests/k8s/validate.mjs <k8s dir>. Exit code 0 when everything is valid; otherwise
// each problem is printed and the exit code is 1.
import fs from "node:fs";
import path from "node:path";
import yaml from "js-yaml";
import Ajv from "ajv";
import { Namespace, Secret, Service, ServiceAccount } from "kubernetes-models/v1";
import { Deployment, StatefulSet } from "kubernetes-models/apps/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { Role, RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1";
import { CustomResourceDefinition } from "kubernetes-models/apiextensions.k8s.io/v1";

const models = {
  "v1/Namespace": Namespace,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "v1/ServiceAccount": ServiceAccount,
  "apps/v1/StatefulSet": StatefulSet,
  "apps/v1/Deployment": Deployment,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "rbac.authorization.k8s.io/v1/Role": Role,
  "rbac.authorization.k8s.io/v1/RoleBinding": RoleBinding,
  "apiextensions.k8s.io/v1/CustomResourceDefinition": CustomResourceDefinition,
};

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node validate.mjs <k8s dir>");
  process.exit(2);
}
const problems = [];
const objects = [];
for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()) {
  const docs = yaml.loadAll(fs.readFileSync(path.join(dir, file), "utf8")).filter((d) => d);
  for (const doc of docs) objects.push({ file, doc });
}

const crds = objects.filter(({ doc }) => doc.kind === "CustomResourceDefinition");
// strict: false lets the Kubernetes extensions (x-kubernetes-*) through; formats are not checked.
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
for (const { file, doc } of objects) {
  const where = `${file}: ${doc.kind}/${doc.metadata?.name}`;
  if (doc.kind === "Kustomization") {
    const listed = [...doc.resources].sort();
    const present = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml" && !f.startsWith("sample-"))
      .sort();
    if (JSON.stringify(listed) !== JSON.stringify(present)) {
      problems.push(`${where}: lists ${listed} but the manifests are ${present}`);
    }
    continue;
  }
  if (doc.apiVersion === "chorus.io/v1alpha1") {
    const crd = crds.find(({ doc: c }) => c.spec.names.kind === doc.kind);
    if (!crd) {
      problems.push(`${where}: no CRD defines ${doc.kind}`);
      continue;
    }
    const version = crd.doc.spec.versions.find((v) => `chorus.io/${v.name}` === doc.apiVersion);
    const validate = ajv.compile(version.schema.openAPIV3Schema);
    if (!validate(doc)) problems.push(`${where}: ${ajv.errorsText(validate.errors)}`);
    continue;
  }
  const Model = models[`${doc.apiVersion}/${doc.kind}`];
  if (!Model) {
    problems.push(`${where}: no schema known for ${doc.apiVersion} ${doc.kind}`);
    continue;
  }
  try {
    new Model(doc).validate();
  } catch (e) {
    problems.push(`${where}: ${e.message}`);
  }
}

// What the design relies on, beyond schema validity.
const find = (kind, name) => objects.find(({ doc }) => doc.kind === kind && doc.metadata.name === name)?.doc;
const peers = find("Service", "chorus-peers");
const sts = find("StatefulSet", "chorus");
const pdb = find("PodDisruptionBudget", "chorus");
const expect = (ok, what) => {
  if (!ok) problems.push(what);
};
expect(peers?.spec.clusterIP === "None", "chorus-peers must be headless (stable pod DNS names)");
expect(peers?.spec.publishNotReadyAddresses === true,
       "chorus-peers must publish not-ready pods (seeds resolve before any node is ready)");
expect(sts?.spec.serviceName === "chorus-peers", "the StatefulSet's serviceName must be chorus-peers");
expect(sts?.spec.podManagementPolicy === "Parallel",
       "the first pods must start together (none is ready before the cluster formed)");
const container = sts?.spec.template.spec.containers[0];
expect(container?.readinessProbe?.httpGet?.path === "/v1/ready", "readiness must probe /v1/ready");
expect(container?.livenessProbe?.httpGet?.path === "/v1/health", "liveness must probe /v1/health");
expect(container?.lifecycle?.preStop, "a preStop hook must delay SIGTERM");
expect(sts?.spec.template.spec.securityContext?.runAsNonRoot === true, "pods must run as non-root");
expect(sts?.spec.volumeClaimTemplates?.[0]?.metadata.name === "data", "each pod needs a data PVC");
expect(container?.volumeMounts?.some((m) => m.name === "data" && m.mountPath === "/data"),
       "the data PVC must be mounted at /data");
// The flags may sit in the launcher script (command) or in the container args.
const script = [...(container?.command ?? []), ...(container?.args ?? [])].join(" ");
for (const flag of ["--seeds", "--bootstrap-expect", "--data /data", "--peer", "--http"]) {
  expect(script.includes(flag), `chorusd must be started with ${flag}`);
}
// Secure by default (issue 11): every channel authenticated, nothing listening without it.
for (const flag of ["--tls-cert", "--tls-key", "--tls-ca", "--gossip-key", "--acl-file"]) {
  expect(script.includes(flag), `chorusd must be started with ${flag} (secure by default)`);
}
expect(!script.includes("--insecure"), "chorusd must not be started with --insecure");
expect(container?.readinessProbe?.httpGet?.scheme === "HTTPS" &&
         container?.livenessProbe?.httpGet?.scheme === "HTTPS",
       "the probes must speak HTTPS (the API serves nothing else)");
const np = find("NetworkPolicy", "chorus");
expect(np?.spec.ingress?.some((r) => !r.from && r.ports?.some((p) => p.port === 8080)) &&
         np?.spec.ingress?.some((r) => r.from?.[0]?.podSelector && r.ports?.some((p) => p.port === 7000)),
       "a NetworkPolicy must admit 8080 from anywhere and 7000 from the cluster's pods only");
expect(pdb?.spec.maxUnavailable === 1, "the PodDisruptionBudget must allow one pod down at most");

if (problems.length > 0) {
  for (const p of problems) console.error(`invalid: ${p}`);
  process.exit(1);
}
console.log(`k8s manifests valid: ${objects.length} objects in ${dir}`);
