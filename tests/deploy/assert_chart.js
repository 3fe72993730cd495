#!/usr/bin/env node
// Assertions on the rendered chart objects (JSON arrays from chart-render).
//
// usage: node assert_chart.js VARIANT OBJECTS.json [SERVER_CONFIG_SOURCE]
//   VARIANT: default | gpu | volume — what the values file promises.
//   SERVER_CONFIG_SOURCE: server/server_config.cc; when present, every key of
//   the rendered server config must be one that the server reads.
"use strict";

const fs = require("fs");

// Names shared with the server (issue 4). Keep in line with
// helm/codiff/values.yaml (probes.readinessService, autoscaling.queueDepth).
const READINESS_SERVICE = "codiff.v1.Restoration";
const QUEUE_METRIC = "codiff_queue_depth_requests";

const [variant, file, configSource] = process.argv.slice(2);
const objects = JSON.parse(fs.readFileSync(file, "utf8"));
let passed = 0;
let failed = 0;
function check(what, ok, detail) {
  if (ok) {
    passed++;
    console.log(`ok   ${variant}: ${what}`);
  } else {
    failed++;
    console.log(`FAIL ${variant}: ${what}${detail !== undefined ? ` (${JSON.stringify(detail)})` : ""}`);
  }
}
const byKind = (kind) => objects.filter((o) => o.kind === kind);
const one = (kind) => byKind(kind)[0];

const dep = one("Deployment");
check("one Deployment (apps/v1)", byKind("Deployment").length === 1 && dep.apiVersion === "apps/v1");
const pod = dep.spec.template.spec;
const c = pod.containers.find((x) => x.name === "codiff-server");
check("server container present", !!c);
const portOf = (name) => (c.ports.find((p) => p.name === name) || {}).containerPort;
const grpcPort = portOf("grpc");
check("container ports grpc and metrics", grpcPort === 50051 && portOf("metrics") === 9090,
  c.ports);

// Probes: native gRPC probes.
const lp = c.livenessProbe || {};
const rp = c.readinessProbe || {};
const sp = c.startupProbe || {};
check("livenessProbe is gRPC on the empty service name",
  lp.grpc && lp.grpc.port === grpcPort && lp.grpc.service === "", lp);
check(`readinessProbe is gRPC on "${READINESS_SERVICE}"`,
  rp.grpc && rp.grpc.port === grpcPort && rp.grpc.service === READINESS_SERVICE, rp);
check("startupProbe is gRPC on the readiness service",
  sp.grpc && sp.grpc.port === grpcPort && sp.grpc.service === READINESS_SERVICE, sp);
const startupBudget = (sp.periodSeconds || 10) * (sp.failureThreshold || 3);
check("startupProbe allows >= 5 minutes for model load", startupBudget >= 300, startupBudget);

// Drain: terminationGracePeriodSeconds > server drain grace + preStop pause.
const cm = byKind("ConfigMap").find((o) => o.data && o.data["config.yaml"]);
check("ConfigMap with config.yaml", !!cm);
const config = cm ? cm.data["config.yaml"] : "";
const grace = Number((config.match(/^shutdown_grace_seconds:\s*([\d.]+)/m) || [])[1]);
const pre = (((c.lifecycle || {}).preStop || {}).exec || {}).command || [];
const preSleep = pre[0] === "sleep" ? Number(pre[1]) : NaN;
check("preStop sleeps", preSleep > 0, pre);
check("terminationGracePeriodSeconds > shutdown_grace_seconds + preStop",
  pod.terminationGracePeriodSeconds > grace + preSleep,
  { tgps: pod.terminationGracePeriodSeconds, grace, preSleep });

// Security.
const psc = pod.securityContext || {};
const csc = c.securityContext || {};
check("runs as non-root", (csc.runAsNonRoot ?? psc.runAsNonRoot) === true &&
  (csc.runAsUser ?? psc.runAsUser) > 0, { psc, csc });
check("readOnlyRootFilesystem", csc.readOnlyRootFilesystem === true, csc);
check("no privilege escalation, all capabilities dropped",
  csc.allowPrivilegeEscalation === false && (csc.capabilities.drop || []).includes("ALL"), csc);
const tmp = (c.volumeMounts || []).find((m) => m.mountPath === "/tmp");
check("writable /tmp from an emptyDir", tmp && pod.volumes.find((v) => v.name === tmp.name).emptyDir);

// Server config: the keys the server reads, the model folder, the ports.
check("config listens on the container ports",
  config.includes(`listen: "0.0.0.0:${grpcPort}"`) && config.includes('metrics_listen: "0.0.0.0:9090"'));
check("args pass --config", JSON.stringify(c.args) === JSON.stringify(["--config", "/etc/codiff/config.yaml"]));
check("no exponent-form numbers in the config", !/\d\.\d+e\+\d+/.test(config), config);
if (configSource && fs.existsSync(configSource)) {
  const src = fs.readFileSync(configSource, "utf8");
  const keys = [...config.matchAll(/^([a-z_]+):/gm)].map((m) => m[1]);
  const unknown = keys.filter((k) => !src.includes(`"${k}"`));
  check("every config key is read by server/server_config.cc", unknown.length === 0, unknown);
}

// Service(s).
const services = byKind("Service");
const svc = services.find((s) => s.spec.clusterIP !== "None");
check("Service exposes grpc and metrics", svc &&
  ["grpc", "metrics"].every((n) => svc.spec.ports.some((p) => p.name === n && p.targetPort === n)));
const selector = dep.spec.selector.matchLabels;
const sameSelector = (s) => JSON.stringify(s) === JSON.stringify(selector);
check("Service selects the pods", svc && sameSelector(svc.spec.selector));

// PDB.
const pdb = one("PodDisruptionBudget");
check("PodDisruptionBudget policy/v1 selecting the pods", pdb && pdb.apiVersion === "policy/v1" &&
  sameSelector(pdb.spec.selector.matchLabels) &&
  (pdb.spec.maxUnavailable !== undefined || pdb.spec.minAvailable !== undefined), pdb);

// HPA.
const hpa = one("HorizontalPodAutoscaler");
check("HPA is autoscaling/v2 on the Deployment", hpa && hpa.apiVersion === "autoscaling/v2" &&
  hpa.spec.scaleTargetRef.kind === "Deployment" && hpa.spec.scaleTargetRef.name === dep.metadata.name);
const metrics = (hpa && hpa.spec.metrics) || [];
check(`HPA scales on the ${QUEUE_METRIC} Pods metric`, metrics.some((m) =>
  m.type === "Pods" && m.pods.metric.name === QUEUE_METRIC && m.pods.target.type === "AverageValue"), metrics);
check("HPA has the CPU fallback", metrics.some((m) => m.type === "Resource" && m.resource.name === "cpu"));
check("Deployment leaves replicas to the HPA", dep.spec.replicas === undefined);

// Variant-specific promises.
const limits = (c.resources || {}).limits || {};
const sm = byKind("ServiceMonitor");
if (variant === "gpu") {
  check("GPU limit nvidia.com/gpu: 1", String(limits["nvidia.com/gpu"]) === "1", limits);
  check("config serves on cuda:0", /^devices:\n- cuda:0$/m.test(config), config);
  check("tolerates nvidia.com/gpu taints", (pod.tolerations || []).some((t) => t.key === "nvidia.com/gpu"));
  const headless = services.find((s) => s.spec.clusterIP === "None");
  check("headless Service for client-side balancing", headless && sameSelector(headless.spec.selector));
  check("ServiceMonitor (monitoring.coreos.com/v1) scrapes port metrics at /metrics",
    sm.length === 1 && sm[0].apiVersion === "monitoring.coreos.com/v1" &&
    sm[0].spec.endpoints.some((e) => e.port === "metrics" && e.path === "/metrics") &&
    sameSelector(sm[0].spec.selector.matchLabels), sm);
} else {
  check("no GPU requested", limits["nvidia.com/gpu"] === undefined, limits);
  check("config serves on cpu", /^devices:\n- cpu$/m.test(config), config);
  check("no ServiceMonitor unless enabled", sm.length === 0);
  check("no headless Service unless enabled", services.length === 1);
}
if (variant === "volume") {
  const mount = c.volumeMounts.find((m) => m.name === "models");
  check("model volume mounted read-only", mount && mount.readOnly === true, c.volumeMounts);
  check("model_dir points into the volume", config.includes('model_dir: "/models/default"'), config);
} else {
  check("model_dir is the baked-in model", config.includes('model_dir: "/opt/codiff/models/default"'), config);
}

console.log(`${variant}: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
