#!/usr/bin/env node
// Assertions on the rendered chart objects (JSON arrays from chart-render).
//
// usage: node assert_chart.js VARIANT OBJECTS.json [SERVER_CONFIG_SOURCE]
//   VARIANT: default | gpu | volume | tls — what the values file promises
//   (tls: tests/deploy/chart_test.sh's TLS + mTLS, PrometheusRule,
//   ServiceMonitor and queue-depth opt-in values, release "prod").
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

const lp = c.livenessProbe || {};
const rp = c.readinessProbe || {};
const sp = c.startupProbe || {};
const volumeOf = (mount) => pod.volumes.find((v) => v.name === mount.name) || {};
if (variant === "tls") {
  // TLS: exec probes (kubelet gRPC probes cannot speak TLS) running the
  // client over TLS to localhost with the Secret's CA (and its cert for mTLS).
  const mount = (c.volumeMounts || []).find((m) => volumeOf(m).secret);
  const secret = mount ? volumeOf(mount).secret : {};
  check("TLS Secret mounted read-only", mount && mount.readOnly === true && secret.secretName === "codiff-tls",
    c.volumeMounts);
  const dir = mount ? mount.mountPath.replace(/\/$/, "") : "";
  check("TLS Secret mounted outside the ConfigMap mount /etc/codiff and /tmp",
    dir !== "" && !["/etc/codiff", "/tmp"].some((p) => dir === p || dir.startsWith(p + "/")), dir);
  check("TLS Secret files not world-readable", secret.defaultMode === 0o440, secret);
  const noGrpc = [lp, rp, sp].every((p) => !p.grpc && !p.httpGet && !p.tcpSocket);
  check("no kubelet gRPC probes (they cannot speak TLS)", noGrpc, { lp, rp, sp });
  const expect = (p, service) => {
    const cmd = (p.exec || {}).command || [];
    const arg = (flag) => { const i = cmd.indexOf(flag); return i < 0 ? undefined : cmd[i + 1]; };
    return cmd[0] === "/opt/codiff/bin/codiff" && cmd[1] === "health" &&
      arg("--server") === `localhost:${grpcPort}` && arg("--ca") === `${dir}/ca.crt` &&
      arg("--cert") === `${dir}/tls.crt` && arg("--key") === `${dir}/tls.key` &&
      arg("--service") === service && Number(arg("--deadline")) <= p.timeoutSeconds;
  };
  check("livenessProbe: exec codiff health --ca --cert --key, service \"\"", expect(lp, ""), lp);
  check(`readinessProbe: exec codiff health over TLS, service ${READINESS_SERVICE}`,
    expect(rp, READINESS_SERVICE), rp);
  check("startupProbe: exec codiff health over TLS, readiness service", expect(sp, READINESS_SERVICE), sp);
  globalThis.tlsDir = dir;
} else {
  check("livenessProbe is gRPC on the empty service name",
    lp.grpc && lp.grpc.port === grpcPort && lp.grpc.service === "", lp);
  check(`readinessProbe is gRPC on "${READINESS_SERVICE}"`,
    rp.grpc && rp.grpc.port === grpcPort && rp.grpc.service === READINESS_SERVICE, rp);
  check("startupProbe is gRPC on the readiness service",
    sp.grpc && sp.grpc.port === grpcPort && sp.grpc.service === READINESS_SERVICE, sp);
  check("no TLS Secret mounted", !(pod.volumes || []).some((v) => v.secret));
}
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
// The HTTP API (issue 31) is plaintext: exposed and configured without TLS,
// neither with it.
{
  const httpSvc = svc && svc.spec.ports.some((p) => p.name === "http" && p.targetPort === "http");
  const httpContainer = portOf("http");
  const config = byKind("ConfigMap")[0].data["config.yaml"];
  if (variant === "tls") {
    check("tls: no HTTP port on the Service or container, http_listen empty",
      !httpSvc && httpContainer === undefined && config.includes('http_listen: ""'));
  } else {
    check("Service and container expose http (8080), config listens on it",
      httpSvc && httpContainer === 8080 && config.includes('http_listen: "0.0.0.0:8080"'));
  }
}
const selector = dep.spec.selector.matchLabels;
const sameSelector = (s) => JSON.stringify(s) === JSON.stringify(selector);
check("Service selects the pods", svc && sameSelector(svc.spec.selector));

// PDB.
const pdb = one("PodDisruptionBudget");
check("PodDisruptionBudget policy/v1 selecting the pods", pdb && pdb.apiVersion === "policy/v1" &&
  sameSelector(pdb.spec.selector.matchLabels) &&
  (pdb.spec.maxUnavailable !== undefined || pdb.spec.minAvailable !== undefined), pdb);

// HPA: CPU only by default (an HPA with a metric it cannot fetch never
// scales down); the queue-depth opt-in (tls variant) adds the Pods metric
// and the prometheus-adapter rules that serve it.
const hpa = one("HorizontalPodAutoscaler");
check("HPA is autoscaling/v2 on the Deployment", hpa && hpa.apiVersion === "autoscaling/v2" &&
  hpa.spec.scaleTargetRef.kind === "Deployment" && hpa.spec.scaleTargetRef.name === dep.metadata.name);
const metrics = (hpa && hpa.spec.metrics) || [];
const cpuMetric = metrics.some((m) => m.type === "Resource" && m.resource.name === "cpu" &&
  m.resource.target.type === "Utilization");
const queueMetric = metrics.some((m) => m.type === "Pods" && m.pods.metric.name === QUEUE_METRIC &&
  m.pods.target.type === "AverageValue");
const adapterCm = byKind("ConfigMap").find((o) => o.metadata.name.endsWith("-prometheus-adapter"));
check("HPA scales on CPU utilisation", cpuMetric, metrics);
check("Deployment leaves replicas to the HPA", dep.spec.replicas === undefined);
if (variant === "tls") {
  check(`opt-in: HPA also scales on the ${QUEUE_METRIC} Pods metric`, metrics.length === 2 && queueMetric, metrics);
  const rules = adapterCm ? adapterCm.data["config.yaml"] : "";
  check("opt-in: prometheus-adapter rules ConfigMap (config.yaml) exposes that metric",
    /^rules:/m.test(rules) && rules.includes(`as: "${QUEUE_METRIC}"`) &&
    rules.includes(`seriesQuery: '${QUEUE_METRIC}{namespace!="",pod!=""}'`), adapterCm);
} else {
  check("default: HPA has only the CPU metric", metrics.length === 1 && cpuMetric, metrics);
  check("default: no prometheus-adapter rules", adapterCm === undefined);
}

// Threads fit the pod: torch_threads (and OpenMP) from the CPU limit.
const cpuLimit = String(((c.resources || {}).limits || {}).cpu);
const wantThreads = cpuLimit.endsWith("m") ? Math.max(1, Math.ceil(Number(cpuLimit.slice(0, -1)) / 1000))
  : Math.max(1, Math.ceil(Number(cpuLimit)));
const threads = Number((config.match(/^torch_threads:\s*(\d+)/m) || [])[1]);
check(`torch_threads = CPU limit ${cpuLimit} rounded up (${wantThreads})`, threads === wantThreads, threads);
const omp = (c.env || []).find((e) => e.name === "OMP_NUM_THREADS");
check("OMP_NUM_THREADS = torch_threads", omp && Number(omp.value) === wantThreads, omp);

// Load balancing: connections age out so new pods get traffic.
const maxAge = Number((config.match(/^max_connection_age_seconds:\s*([\d.]+)/m) || [])[1]);
check("max_connection_age_seconds set, at most 10 minutes", maxAge > 0 && maxAge <= 600, maxAge);

// Rollout.
const ru = (dep.spec.strategy || {}).rollingUpdate || {};
if (variant === "gpu") {
  check("GPU rollout replaces pods (maxSurge 0, maxUnavailable 1): no spare GPU",
    ru.maxSurge === 0 && ru.maxUnavailable === 1, ru);
} else {
  check("rollout adds before it removes (maxSurge 1, maxUnavailable 0)",
    ru.maxSurge === 1 && ru.maxUnavailable === 0, ru);
}
check("PDB present with >= 2 pods at the least", pdb && hpa.spec.minReplicas >= 2, hpa && hpa.spec);

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
}
if (variant === "gpu" || variant === "tls") {
  const relabel = ((sm[0] || {}).spec || { endpoints: [{}] }).endpoints[0].relabelings || [];
  const sets = (label) => (relabel.find((r) => r.targetLabel === label && r.action === "replace") || {}).replacement;
  const release = variant === "tls" ? "prod" : "codiff";
  const wantJob = release === "codiff" ? "codiff" : `${release}-codiff`;
  check(`ServiceMonitor sets job="${wantJob}" explicitly`, sets("job") === wantJob, relabel);
  check('ServiceMonitor sets container="codiff-server" (the alert rules\' selector)',
    sets("container") === "codiff-server", relabel);
}
if (variant === "tls") {
  const tlsConf = (config.match(/^tls:\n((?: {2}.*\n?)+)/m) || [])[1] || "";
  const dir = globalThis.tlsDir;
  check("server config reads cert, key and client CA from the Secret mount",
    tlsConf.includes(`cert_file: "${dir}/tls.crt"`) && tlsConf.includes(`key_file: "${dir}/tls.key"`) &&
    tlsConf.includes(`client_ca_file: "${dir}/ca.crt"`), tlsConf);
  const env = (c.env || []).find((e) => e.name === "CODIFF_SERVER");
  check("CODIFF_SERVER names localhost (the certificate's name)", env && env.value === `localhost:${grpcPort}`, env);
  const pr = byKind("PrometheusRule");
  check("PrometheusRule rendered", pr.length === 1 && pr[0].apiVersion === "monitoring.coreos.com/v1", pr.length);
} else if (variant !== "gpu") {
  check("no GPU requested", limits["nvidia.com/gpu"] === undefined, limits);
  check("config serves on cpu", /^devices:\n- cpu$/m.test(config), config);
  check("no ServiceMonitor unless enabled", sm.length === 0);
  check("no headless Service unless enabled", services.length === 1);
  check("no PrometheusRule unless enabled", byKind("PrometheusRule").length === 0);
  check("no TLS in the server config", !/^tls:/m.test(config), config);
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
